"""The README's quick start, run as written: embedded defaults, the printed demo key, the SDK example."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

README = Path(__file__).resolve().parents[1] / "README.md"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    assert "make serve" in text
    assert "make test" in text
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}
    server = subprocess.Popen([sys.executable, "-m", "interlock", "serve", "--port", str(port)], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = ""
        key = None
        deadline = time.monotonic() + 30
        assert server.stdout is not None
        while key is None and time.monotonic() < deadline:
            line = server.stdout.readline()
            banner += line
            found = re.search(r"(il_[A-Za-z0-9]+)", line)
            key = found.group(1) if found else None
        assert key, f"no demo key printed: {banner!r}"
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        example = _python_blocks(text)[0]
        assert 'api_key="il_..."' in example
        assert "127.0.0.1:8080" in example
        script = example.replace('api_key="il_..."', f'api_key="{key}"').replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
        assert run.returncode == 0, run.stderr
        # Every "print(...)  # expected" comment in the example states what the line prints.
        expected = [m.group(1).strip() for m in re.finditer(r"print\(.*\)\s+# (?:the mock model echoes: )?(.*)", example)]
        lines = run.stdout.splitlines()
        for want in expected:
            assert want in lines, f"README promises {want!r}; the example printed {lines!r}"
        assert any("stream this please" in line for line in lines)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
    # The embedded defaults keep their state in the working directory.
    assert (tmp_path / "interlock.db").exists()


def test_readme_says_how_to_install_the_sdk_its_example_uses() -> None:
    text = README.read_text(encoding="utf-8")
    sdk_example = text.index("from openai import OpenAI")
    assert "pip install openai" in text[:sdk_example]
