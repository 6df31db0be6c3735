"""automask: teach a robot a new object from one turntable sweep, with no hand labelling."""

__version__ = "0.1.0"
