"""The call pipeline: one typed context per call and an ordered list of stages built once."""

from interlock.pipeline.call import Call, StageDecision, Usage
from interlock.pipeline.stage import Stage

__all__ = ["Call", "Stage", "StageDecision", "Usage"]
