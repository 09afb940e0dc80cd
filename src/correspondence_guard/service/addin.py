"""The Outlook add-in's own files, served from the service's origin (so the task pane needs no CORS).

``launchevent.js`` is the on-send handler. Classic Outlook runs it in a JavaScript-only runtime
with no roaming settings or storage to read from, so the service URL and the bearer token are
written into the file as it is served: ``"__CG_ORIGIN__"`` becomes the origin the request came
to, ``"__CG_TOKEN__"`` the configured token and ``"__CG_ON_FAILURE__"`` the policy's
``limits.on_check_failure`` (prompt, or block to fail closed). ``manifest.xml`` is served with its
``https://localhost:8765`` replaced by that origin, ready for a server deployment.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request, Response

from correspondence_guard.config import ConfigError

DEFAULT_DIR = Path(__file__).resolve().parents[3] / "deploy" / "outlook-addin"
MANIFEST_ORIGIN = "https://localhost:8765"
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".png": "image/png",
}
NOT_SERVED = {"package.json", "package-lock.json"}


def load_addin(folder: Path | None) -> dict[str, bytes]:
    """The servable files of the add-in folder (top level and ``assets/``), by relative name."""
    folder = folder or DEFAULT_DIR
    if not (folder / "launchevent.js").is_file():
        raise ConfigError(f"service.addin_dir: {folder} holds no launchevent.js")
    files: dict[str, bytes] = {}
    for path in [*folder.iterdir(), *(folder / "assets").glob("*")]:
        if path.is_file() and path.suffix in TYPES and path.name not in NOT_SERVED:
            files[path.relative_to(folder).as_posix()] = path.read_bytes()
    return files


def origin_of(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def addin_router(files: dict[str, bytes], token: str, on_failure: str = "prompt") -> APIRouter:
    router = APIRouter(include_in_schema=False)
    js_token = json.dumps(token)[1:-1]

    @router.get("/addin/{name:path}")
    def addin_file(name: str, request: Request) -> Response:
        if name not in files:
            raise HTTPException(404, "no such add-in file")
        body = files[name]
        origin = origin_of(request)
        if name == "launchevent.js":
            body = (
                body.replace(b"__CG_ORIGIN__", origin.encode())
                .replace(b"__CG_TOKEN__", js_token.encode())
                .replace(b"__CG_ON_FAILURE__", on_failure.encode())
            )
        elif name == "manifest.xml":
            body = body.replace(MANIFEST_ORIGIN.encode(), origin.encode())
        # Revalidated on every load (a new token or origin shows at once), cheaply with the ETag;
        # "private" keeps shared caches from storing a file that holds the token.
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"Cache-Control": "no-cache, private", "ETag": etag, "X-Content-Type-Options": "nosniff"}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(body, media_type=TYPES[Path(name).suffix], headers=headers)

    @router.get("/.well-known/microsoft-officeaddins-allowed.json")
    def allowed_scripts(request: Request) -> dict[str, list[str]]:
        """Classic Outlook's event runtime makes CORS calls only from the scripts listed here."""
        return {"allowed": [f"{origin_of(request)}/addin/launchevent.js"]}

    return router
