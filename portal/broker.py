"""The Redis broker transport, hardened against a broker restart.

When Redis goes away while a worker holds unacknowledged messages (a task waiting for its
countdown, say), kombu closes the channel and tries to put those messages back. By then the
channel's transport is already detached from its connection, and kombu 5.7 fails with an
AttributeError instead of a connection error. Connection errors are what kombu ignores while
closing and what Celery's consumer recovers from; an AttributeError stops the whole worker.
Reporting the detached transport as a connection error lets the worker reconnect once Redis is
back. The messages stay in Redis's unacked set and are redelivered after the visibility timeout.
"""

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise redis.ConnectionError("The connection to the broker is closed.")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
