"""Bytes of the home screen (``GET /v1/app/home``) with the seed catalog: raw, gzip, brotli.

Run: ``.venv/bin/python -m bench.home_size``. It starts the embedded platform on a scratch data
folder (the demo seed loads on first start), asks for the home screen at a few points in
Douala and Yaoundé, and writes ``bench/results/home_size.md``. Goal (issue 3, W12): 50 KB
compressed or less, images excluded.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from bench._common import command_line, now_utc, table
from okada.infra.settings import Mode, PlatformSettings
from okada.runtime.embedded import create_embedded_app

POINTS = {
    "Bonamoussadi (Douala)": (4.0940, 9.7430),
    "Akwa (Douala)": (4.0485, 9.6990),
    "Bastos (Yaoundé)": (3.8890, 11.5120),
}
RESULTS = Path(__file__).parent / "results" / "home_size.md"


async def measure() -> list[list[object]]:
    """Return one row per point: raw, gzip and brotli bytes, and what the response holds."""
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as folder:
        settings = PlatformSettings(mode=Mode.EMBEDDED, data_dir=Path(folder), log_level="ERROR")
        app = create_embedded_app(settings, configure_logs=False)
        async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager:
            transport = httpx.ASGITransport(app=manager.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://okada") as client:
                for name, (lat, lng) in POINTS.items():
                    sizes: dict[str, int] = {}
                    body: dict[str, object] = {}
                    for encoding in ("identity", "gzip", "br"):
                        response = await client.get(
                            "/v1/app/home", params={"lat": lat, "lng": lng},
                            headers={"accept-encoding": encoding, "accept-language": "fr"},
                        )
                        assert response.status_code == 200, response.text
                        # httpx decodes the body; the wire size is the compressed stream.
                        sizes[encoding] = int(response.headers.get(
                            "content-length", len(response.content)))
                        body = response.json()
                    featured = body.get("featured_products") or body.get("featured") or []
                    rows.append([
                        name, sizes["identity"], sizes["gzip"], sizes["br"],
                        len(featured) if isinstance(featured, list) else "-",
                        ", ".join(str(p) for p in body.get("partial", [])) or "none",
                    ])
    return rows


def main() -> None:
    """Measure and record."""
    rows = asyncio.run(measure())
    headers = ["Point", "JSON bytes", "gzip bytes", "brotli bytes", "featured products",
               "partial parts"]
    report = "\n".join([
        "# Home screen size (W12 part)",
        "",
        f"- Date (UTC): {now_utc()}",
        f"- Command: `{command_line()}`",
        "- Embedded platform with the demo seed, anonymous caller (no active-order part), "
        "`Accept-Language: fr`; goal: 50 KB compressed or less.",
        "",
        table(headers, rows),
        "",
    ])
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(report, encoding="utf-8")
    print(report)


if __name__ == "__main__":
    main()
