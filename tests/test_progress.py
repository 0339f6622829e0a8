"""Progress lines for logs: what a person reads in nohup.out of a colorize or a training run."""
from gan_colorizer.progress import ProgressLines


def test_progress_line_gives_count_rate_and_eta() -> None:
    progress = ProgressLines("colorize", total=5000, initial=20, interval=10.0)
    progress.done = 120
    assert progress.line(elapsed=100 / 3.1) == "colorize: 120/5000 (2.4 %) 3.1 img/s, ETA 26 min"
    assert progress.line(elapsed=0.5).endswith("ETA 24 s")
    progress.done = 20
    assert progress.line(elapsed=5.0).endswith("0 img/s, ETA unknown")


def test_a_training_line_carries_the_latest_values_and_counts_only_this_process() -> None:
    progress = ProgressLines("pretrain", total=2400, initial=1200, interval=10.0, unit="step")
    progress.done = 1290
    progress.set_postfix({"loss_l1": "0.0712", "images_per_s": "11.2"})
    assert progress.line(elapsed=120.0) == ("pretrain: 1290/2400 (53.8 %) 0.75 step/s, ETA 25 min, "
                                            "loss_l1 0.0712, images_per_s 11.2")


def test_lines_come_at_most_once_per_interval(capsys) -> None:
    progress = ProgressLines("colorize", total=10, initial=0, interval=3600.0)
    for _ in range(5):
        progress.update()
    assert capsys.readouterr().err == ""
    progress.interval = 0.0
    progress.update()
    assert capsys.readouterr().err.startswith("colorize: 6/10 (60.0 %)")
