"""A headless Chromium driven over the DevTools protocol (websocket-client), for tests that
look at a report the way a reader does: what the browser logged, decoded and laid out.

Debian's ``chromium`` package is enough; nothing downloads a browser build.
"""

from __future__ import annotations

import base64
import itertools
import json
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import websocket

from offload.report.browser import find_chromium, headless_arguments

STARTUP_TIMEOUT_S = 30.0
LOAD_TIMEOUT_S = 30.0


class Browser:
    """One headless Chromium with one page; ``console_errors`` collects what it logged as an
    error (console.error, uncaught exceptions, failed resource loads)."""

    def __init__(self, width: int = 1400, height: int = 900) -> None:
        chromium = find_chromium()
        if chromium is None:
            raise FileNotFoundError("chromium is not installed")
        self._profile = tempfile.TemporaryDirectory(
            prefix="offload-devtools-", ignore_cleanup_errors=True
        )
        self._process = subprocess.Popen(
            [
                chromium,
                *headless_arguments(Path(self._profile.name)),
                "--remote-debugging-port=0",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._ids = itertools.count(1)
        self.console_errors: list[str] = []
        self._socket = websocket.create_connection(self._page_socket(), timeout=LOAD_TIMEOUT_S)
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def _page_socket(self) -> str:
        """The page target's WebSocket URL, once Chromium has written its DevTools port."""
        port_file = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._process.returncode}")
            if port_file.exists() and port_file.read_text().strip():
                port = port_file.read_text().split()[0]
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as answer:
                    pages = [t for t in json.load(answer) if t["type"] == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
            time.sleep(0.1)  # polling for the browser's own file, not standing in for an effect
        raise TimeoutError(f"chromium gave no DevTools port within {STARTUP_TIMEOUT_S:g} s")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command and return its result; events arriving meanwhile are recorded."""
        ident = next(self._ids)
        self._socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self._socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self._event(message)

    def _event(self, message: dict[str, Any]) -> str | None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            texts = [str(a.get("value", a.get("description", ""))) for a in params["args"]]
            self.console_errors.append("console: " + " ".join(texts))
        elif method == "Runtime.exceptionThrown":
            self.console_errors.append("exception: " + params["exceptionDetails"]["text"])
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            self.console_errors.append(f"log: {entry['text']} {entry.get('url', '')}".strip())
        return str(method) if method else None

    def open(self, path: Path) -> None:
        """Navigate to a local file and wait for its load event (images included)."""
        self.call("Page.navigate", url=path.resolve().as_uri())
        deadline = time.monotonic() + LOAD_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._event(json.loads(self._socket.recv())) == "Page.loadEventFired":
                return
        raise TimeoutError(f"{path} did not load within {LOAD_TIMEOUT_S:g} s")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r}: {result['exceptionDetails']['text']}")
        return result["result"].get("value")

    def screenshot(self, target: Path, *, full_page: bool = True) -> Path:
        """A PNG of the page (the whole length with ``full_page``), for a person to look at."""
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=full_page)
        target.write_bytes(base64.b64decode(data["data"]))
        return target

    def close(self) -> None:
        try:
            self._socket.close()
        finally:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
