"""Faceplate's Nuke host side: node actions, the result cache, Roto/Tracker export, render
callbacks and the TD entry point. Standard library only (runs inside Nuke's Python 3.9+)."""

__version__ = "0.1.0"
