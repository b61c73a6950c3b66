"""The README's quick start, run as written: embedded defaults, the printed demo key, the SDK example."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from support.env import clean_env
from support.ports import free_port
from support.processes import ServerProcess, serve_args

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    text = README.read_text(encoding="utf-8")
    assert "make serve" in text
    assert "make test" in text
    port = free_port()
    env = clean_env()
    server = ServerProcess(serve_args(None, port), tmp_path.parent / f"{tmp_path.name}-serve.log", tmp_path)
    server.start()
    try:
        server.wait_ready(f"http://127.0.0.1:{port}")
        banner = server.log()
        found = re.search(r"(il_[A-Za-z0-9]+)", banner)
        assert found, f"no demo key printed: {banner!r}"
        key = found.group(1)
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
        server.stop(timeout=30)
    # The embedded defaults keep their state in the working directory.
    assert (tmp_path / "interlock.db").exists()


def test_readme_says_how_to_install_the_sdk_its_example_uses() -> None:
    text = README.read_text(encoding="utf-8")
    sdk_example = text.index("from openai import OpenAI")
    assert "pip install openai" in text[:sdk_example]
