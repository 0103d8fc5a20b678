"""Print the API's OpenAPI document (the frontend's typed client is generated from it)."""

from __future__ import annotations

import json
import sys

from difflab.api.app import create_app
from difflab.config import Settings


def openapi_document() -> dict:
    app = create_app(Settings(mode="development"), reconcile=False)
    return app.openapi()


if __name__ == "__main__":
    json.dump(openapi_document(), sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
