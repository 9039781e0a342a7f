"""The scheduler stage: placement + cluster states + previous bindings → Schedule."""

from reconciler.scheduler.framework import schedule
from reconciler.scheduler.model import (
    Binding,
    ClusterDecision,
    ClusterScore,
    Schedule,
    ScheduledCondition,
)
from reconciler.scheduler.profile import Profile, default_profile

__all__ = [
    "Binding",
    "ClusterDecision",
    "ClusterScore",
    "Profile",
    "Schedule",
    "ScheduledCondition",
    "default_profile",
    "schedule",
]
