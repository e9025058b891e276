"""``narrator`` with the slow fake engine registered, for tests that run ``narrator serve``
in a process of its own (python -m tests.serve_main serve ...)."""

from narrator.cli import main
from narrator.engines import register_engine

from .fake_engine import FakeEngine, SlowEngine

if __name__ == "__main__":
    register_engine("fake", FakeEngine)
    register_engine("slow", SlowEngine)
    main()
