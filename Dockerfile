# The difflab image: API and workers run the same code; the command picks the role.
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY backend/ backend/
RUN pip install "torch>=2.4,<2.15" && pip install .
COPY --from=frontend /src/frontend/dist /app/frontend/dist
COPY models/ /models/
ENV DIFFLAB_FRONTEND_DIST=/app/frontend/dist DIFFLAB_MODELS_DIR=/models
RUN useradd --create-home difflab && mkdir -p /data && chown difflab /data
USER difflab
EXPOSE 8000
CMD ["difflab", "serve", "--no-worker", "--host", "0.0.0.0"]
