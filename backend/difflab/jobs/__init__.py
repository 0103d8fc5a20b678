"""Jobs: the Celery app, thin task entry points, the job lifecycle, events, the reconciler."""
