"""Schedule: releases go out at their release time, to the second."""

from warta.schedule.scheduler import Scheduler, publish_due

__all__ = ["Scheduler", "publish_due"]
