"""The demo of ``bondgenoten run --demo``: Almere, in Dutch, driven through the public API."""

from services.demo.story import play_demo

__all__ = ["play_demo"]
