# PulseGuard: one image for the web server (bin/serve: WEB_WORKERS processes) and the scheduler.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    ENVIRONMENT=production

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# Static files are collected at build time and served by whitenoise from the web process.
# The key below exists only for this build step; the container refuses to start without a real one.
RUN SECRET_KEY="build-only-$(python -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    python manage.py collectstatic --noinput \
 && useradd --create-home --uid 1000 pulseguard \
 && mkdir -p logs && chown -R pulseguard /app/logs

USER pulseguard
EXPOSE 8000
ENV HOST=0.0.0.0 PORT=8000
CMD ["bin/serve"]
