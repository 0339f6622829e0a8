"""The local web app: `python tools/serve.py` opens a page on 127.0.0.1 for people who don't use a terminal.

One drops photos on the page, sees each one before and after, picks a look (a mood or a colour), a
light temperature and a strength, and downloads the results one by one or as a zip.

- `service.py`: the work behind the page, free of HTTP: decode an upload, colorize it with the one
  loaded model (calls serialised by a lock), keep the results in a temporary folder, zip them.
- `server.py`: a standard-library ThreadingHTTPServer that routes the page's requests to the service.
- `page.html`: the whole page, self-contained (inline CSS and JS, system fonts, no external asset).

Why not Gradio, the usual library for ML demos: the rules here are strict about working offline (the
page may make no request outside the local server, checked in a real browser). Gradio's page loaded
fonts and scripts from CDNs for most of its history (gradio-app/gradio#1450, open from 2022 until its
frontend assets were self-hosted in 2026), so the guarantee would rest on pinning a fast-moving
dependency whose front end we do not control. Gradio 6.31 with its dependencies adds about 260 MB
(pandas, FastAPI, uvicorn, huggingface_hub, its Svelte build) to an install that archivists make on
laptops, and its component model fits a batch of photos, each with its own before/after and
download, less well than one page written for that. The standard library serves one page and a
dozen JSON/image routes with no dependency at all, and every rule here is tested against our own code.
"""
