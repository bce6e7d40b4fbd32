"""Loaded by lpa beside the user's locustfile when --ca-bundle is given
(`-f LOCUSTFILE,...,lpa_ca_bundle.py`), with REQUESTS_CA_BUNDLE set to the
bundle: makes HttpUser verify https:// hosts against it.

Why the variable alone is not enough: Locust's HttpUser turns `trust_env`
off on its session (Locust 2.47, locust/user/users.py), so requests never
reads REQUESTS_CA_BUNDLE, and verifies against certifi's roots through an
SSL context Locust preloads. A session whose `verify` is a path verifies
against that file alone, as lpa's native driver does with the bundle.

Set after the session is made and before the user's on_start, so a
locustfile that sets `self.client.verify` itself, or passes `verify=` to a
request, still decides. FastHttpUser is not touched: it verifies nothing
unless the class sets `insecure = False`, and then reads SSL_CERT_FILE,
which lpa sets to the bundle too. It defines no User class."""

import os

from locust.clients import HttpSession

_bundle = os.environ.get("REQUESTS_CA_BUNDLE")

if _bundle:
    _init = HttpSession.__init__

    def _init_verifying_against_the_bundle(self, *args, **kwargs):
        _init(self, *args, **kwargs)
        self.verify = _bundle

    HttpSession.__init__ = _init_verifying_against_the_bundle
