"""The reader's default thresholds, in one place for ``ALPR``, the CLI (`read`, `eval read`, `bench`) and site
configs. Imports nothing, so the CLI can use them without loading ONNX Runtime; docs/history/reader.md says how
each was chosen."""

FIT_FORMATS = 0.1  # ``fit_formats``: chosen on synthetic and UC3M-LP crops
SECOND_VIEW_BELOW = 40.0  # ``second_view_below`` (px): where a second crop helps
SMALL_BELOW = 24.0  # ``small_below`` (px): where the small-plate specialist reads better
RECHECK_BELOW = 0.9  # ``recheck_below``: no read lost on the paired scenes up to 0.9
