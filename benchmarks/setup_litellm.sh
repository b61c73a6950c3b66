#!/usr/bin/env sh
# LiteLLM's proxy in a virtual environment of its own (.venv-litellm), as the peer of the gateway
# benchmark: it never shares packages with Interlock's environment.
set -eu
cd "$(dirname "$0")/.."
python3 -m venv .venv-litellm
.venv-litellm/bin/pip install -q --upgrade pip
.venv-litellm/bin/pip install -q 'litellm[proxy]==1.108.7'
LITELLM_LOCAL_MODEL_COST_MAP=True .venv-litellm/bin/python -c "import litellm.proxy.proxy_server" >/dev/null
echo "LiteLLM proxy ready in .venv-litellm"
