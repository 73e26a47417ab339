"""What every gongkai web page shares (the review console, the portal, the dashboard): the reader's
text-size switch (适老化). It is a file each service serves under its own static path, because
the pages' Content-Security-Policy (shared.service) runs no inline script."""

from pathlib import Path

from fastapi.responses import FileResponse

TEXT_SIZE_SCRIPT = Path(__file__).parent / "web" / "textsize.js"


def text_size_script() -> FileResponse:
    """textsize.js, cacheable for an hour: it holds nothing but code."""
    return FileResponse(
        TEXT_SIZE_SCRIPT, media_type="text/javascript", headers={"Cache-Control": "public, max-age=3600"}
    )
