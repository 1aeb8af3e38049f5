"""The load balancer of ``bench/login_load.py --instances``: the load generator picks a broker instance per request.

Several ``broker serve`` processes share one public address: the issuer, ESIA's redirect URI and
the host of the broker's cookies. Nothing listens there; the load generator's browsers ask a
:class:`Balancer` which instance's port takes each request for it, and send it there with the
public ``Host`` header, as a proxy in front of the instances keeps it. Instances take turns
(round-robin per request), so the consecutive steps of one login land on different instances.

An instance leaves the rotation when the orchestrator says so, before it restarts one (a shared
flag, as a real rolling restart first takes an instance out of the load balancer), or for a
moment after it refused a connection (passive health checking). A request goes to another
instance only when its connection was refused: then nothing was sent (``Browser`` in
``bench/login_load.py`` applies the rule, what a proxy's ``proxy_next_upstream error`` does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, MutableSequence, Sequence

#: How long an instance that refused a connection stays out of this balancer's rotation.
REFUSED_SECONDS = 1.0


class Balancer:
    """Round-robin over ``upstreams`` (``host:port``) for requests to ``public`` (``host:port``).

    ``rotation`` holds one flag per upstream, 1 while it is in the rotation; the orchestrator
    shares it with every load process (``multiprocessing.Array``). When no upstream is in the
    rotation the next one is picked anyway: the request then fails as it would behind a proxy.
    """

    def __init__(
        self,
        public: str,
        upstreams: Sequence[str],
        rotation: MutableSequence[int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.public = public
        self.upstreams = list(upstreams)
        self.rotation = rotation if rotation is not None else [1] * len(self.upstreams)
        self.clock = clock
        self.turn = 0
        self.refused_until = [0.0] * len(self.upstreams)
        self.refusals = 0

    def pick(self) -> str:
        """The next upstream in the rotation."""
        now = self.clock()
        count = len(self.upstreams)
        for step in range(count):
            index = (self.turn + step) % count
            if self.rotation[index] and self.refused_until[index] <= now:
                self.turn = index + 1
                return self.upstreams[index]
        index, self.turn = self.turn % count, self.turn + 1
        return self.upstreams[index]

    def refused(self, upstream: str) -> None:
        """``upstream`` refused a connection: leave it out for :data:`REFUSED_SECONDS`."""
        self.refusals += 1
        self.refused_until[self.upstreams.index(upstream)] = self.clock() + REFUSED_SECONDS
