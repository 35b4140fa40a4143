"""The Celery app. Without REDIS_URL, settings make every task run eagerly in-process."""

import functools
import logging
import os

from celery import Celery
from celery.contrib.django.task import DjangoTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

log = logging.getLogger(__name__)


class Task(DjangoTask):
    """`delay_on_commit` that never fails the write it follows.

    The write has committed by the time the task is queued; if the broker is down, the request
    must still succeed (the periodic sweeps catch up), so the error is logged, not raised.
    Eager runs (tests, the embedded default) still raise, so a broken task is not hidden.
    """

    def delay_on_commit(self, *args, **kwargs):
        from django.db import transaction

        transaction.on_commit(functools.partial(self._delay_logged, args, kwargs))

    def apply_async_on_commit(self, args=None, kwargs=None, **options):
        from django.db import transaction

        transaction.on_commit(functools.partial(self._apply_async_logged, args, kwargs, options))

    def _delay_logged(self, args, kwargs):
        self._apply_async_logged(args, kwargs, {})

    def _apply_async_logged(self, args, kwargs, options):
        if self.app.conf.task_always_eager:
            return self.apply_async(args, kwargs, **options)
        try:
            return self.apply_async(args, kwargs, **options)
        except Exception:
            log.warning("Could not queue %s; the periodic sweep will catch up.", self.name, exc_info=True)
            return None


app = Celery("portal", task_cls=Task)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
