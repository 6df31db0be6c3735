"""The demo: a rendered RGB-D turntable rig, playback, and the report that scores the whole loop."""
