"""The reader's default thresholds, in one place for ``ALPR``, the CLI (`read`, `eval read`, `bench`) and site
configs. Imports nothing, so the CLI can use them without loading ONNX Runtime; docs/history/reader.md says how
each was chosen."""

FIT_FORMATS = 0.1  # ``fit_formats``: chosen on synthetic and UC3M-LP crops
SECOND_VIEW_BELOW = 40.0  # ``second_view_below`` (px): where a second crop helps
SMALL_BELOW = 24.0  # ``small_below`` (px): where the small-plate specialist reads better
RECTIFY_MARGIN = 0.075  # ``rectify_margin``: border kept around a rectified plate, x its height (as trained)
RECHECK_BELOW = 0.9  # ``recheck_below``: no read lost on the paired scenes up to 0.9
# ``low_score_from`` / ``low_score_read``: detections scored from LOW_SCORE_FROM up to the detector's threshold are
# read too, and kept when their read is at least LOW_SCORE_READ sure and fits its region's patterns (no such
# read fell on a place without a plate in ~6,100 low-score detections of synthetic, UC3M-LP and cc0 images)
LOW_SCORE_FROM = 0.15
LOW_SCORE_READ = 0.7
LOW_SCORE_MAX = 3  # low-score detections read per image at most (best scores first): bounds the extra time
LOW_SCORE_FIRST_LOOK = 0.2  # an unsure detection read less surely at the first look is not read again (time)
# ``plate_check``: a plate whose crop the recognizer's plate head (plateforge/train/plate_head.py) scores less
# plate-like than this is dropped: signs and plate-like text (on 300 plate-free scenes 201 -> 38 false plates,
# session 40) with no right read lost on synthetic, UC3M-LP or cc0 scenes
PLATE_CHECK = 0.05
# ``plate_check_grey``: the same cut in monochrome frames, whose plates the grey network's own plate head scores
# (fitted apart, on grey crops). At 0.1 the grey reader (with session 51's first, logistic, grey check) reports
# 135 -> 87 false plates on 900 grey plate-free scenes (seeds 4242 / 4545 / 4646) and reads the same plates on
# every grey set measured (synthetic every region, old regions, Omani, Saudi, Qatari, Bahraini, 1,217 plates of
# seed 5; UC3M-LP and cc0 val photos turned grey); 0.2: 44 false plates but 8 plates lost. Colour frames stay at
# 0.05: 0.1 there cuts false plates 69 -> 44 but
# loses right reads (1 of 2,400 plates of seeds 5 / 2024; a dark New York plate of tests/test_plate_head.py);
# session 51. With the grey check refitted as a one-hidden-layer network (configs/plate_head_grey.yaml): 87 -> 25.
PLATE_CHECK_GREY = 0.1
# ``plate_check_sure``: a plate scored from PLATE_CHECK up to this is reported only when its read fits its region's
# patterns; one scored at least this needs no valid read (vanity and foreign plates). Plate-free scenes: 38 -> 27
# false plates (seed 4242), 32 -> 18 on a dump of the reads of seed 4343; the same right reads on seeds
# 28028 / 5 / 2024, cc0, UC3M-LP (session 41)
PLATE_CHECK_SURE = 0.3
