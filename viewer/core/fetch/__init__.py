"""Live fetch from cloud APIs into the case: every fetch ends as an ordinary import."""
