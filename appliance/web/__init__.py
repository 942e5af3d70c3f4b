"""The web viewer (Arkime's viewer pages and JSON API) on Bottle; see ``app.make_app``."""

from appliance.web.app import make_app

__all__ = ["make_app"]
