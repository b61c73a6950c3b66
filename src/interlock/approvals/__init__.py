"""Human approval: requests, decisions by the right people, expiry, escalation and notification."""

from interlock.approvals.model import Approval, Approvers, Vote
from interlock.approvals.service import ApprovalService

__all__ = ["Approval", "ApprovalService", "Approvers", "Vote"]
