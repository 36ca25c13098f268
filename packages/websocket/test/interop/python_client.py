"""Interop client for test/interop/python.test.ts: Python's `websockets` against our echo server.

Usage: python3 python_client.py ws://127.0.0.1:PORT
Connects (offering permessage-deflate, as websockets does by default), sends text and binary,
checks the echoes, pings, then closes with 1000. Prints one JSON line with what it saw and
exits 0 on success; exits 3 if the websockets package is missing, 1 on any mismatch.
"""
import asyncio
import json
import sys

try:
    import websockets
except ImportError:
    print(json.dumps({"missing": "websockets"}))
    sys.exit(3)


async def run(url: str) -> dict:
    seen: dict = {"version": websockets.__version__}
    async with websockets.connect(url, open_timeout=10, close_timeout=10, max_size=2**24) as ws:
        seen["extensions"] = [str(getattr(e, "name", e)) for e in getattr(ws, "extensions", [])]
        text = "hello from python, \u03ba\u1f79\u03c3\u03bc\u03b5 \U0001f642"
        await ws.send(text)
        echoed = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(echoed, str), f"text came back as {type(echoed).__name__}"
        assert echoed == text, "text echo differs"
        binary = bytes(range(256)) * 4096  # 1 MiB
        await ws.send(binary)
        echoed = await asyncio.wait_for(ws.recv(), 10)
        assert isinstance(echoed, bytes), f"binary came back as {type(echoed).__name__}"
        assert echoed == binary, "binary echo differs"
        pong_waiter = await ws.ping(b"py-ping")
        await asyncio.wait_for(pong_waiter, 10)
        await ws.close(code=1000, reason="bye")
        seen["close_code"] = getattr(ws, "close_code", None)
        if seen["close_code"] is None and getattr(ws, "close_rcvd", None) is not None:
            seen["close_code"] = ws.close_rcvd.code
    seen["ok"] = True
    return seen


def main() -> int:
    try:
        seen = asyncio.run(run(sys.argv[1]))
    except Exception as exc:  # report, don't trace: the test prints this line
        print(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
