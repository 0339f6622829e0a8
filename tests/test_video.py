"""Videos (issue 22): colorize keeps frames, timestamps and audio; colour holds still; bad files get one line."""
import hashlib
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data

from gan_colorizer import color, inference, video, video_metrics
from gan_colorizer.cli import colorize
from gan_colorizer.errors import ConfigError, ImageError
from tests.test_distributed import LOOPBACK, torchrun_command

av = pytest.importorskip("av", reason="PyAV (the [video] extra) is not installed")

SCENE = np.ascontiguousarray(data.astronaut()[::4, ::4])  # (128, 128, 3) uint8: texture the flow can follow


def scene_frames(count: int, cut_at: int | None = None, size: tuple[int, int] = (48, 64)) -> list[np.ndarray]:
    """(H, W, 3) uint8 frames panning over the astronaut one pixel a frame; another picture from `cut_at`."""
    height, width = size
    frames = []
    for index in range(count):
        scene = SCENE if cut_at is None or index < cut_at else np.ascontiguousarray(data.chelsea()[::4, ::4])
        frames.append(np.ascontiguousarray(scene[20:20 + height, 10 + index:10 + index + width]))
    return frames


def write_video(path: Path, frames: list[np.ndarray], rate: int = 10, audio: bool = False) -> Path:
    """An H.264 video of `frames` (pts 0, 1, 2, ... in 1/rate; a keyframe every 10), with a sine-tone AAC
    track when asked; the container from the suffix."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate, options={"g": "10"})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        sound = out.add_stream("aac", rate=8000) if audio else None
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
        if sound is not None:
            seconds = len(frames) / rate
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(8000 * seconds)) / 8000)).astype(np.float32)
            for start in range(0, tone.size, 1024):
                chunk = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="flt", layout="mono")
                chunk.sample_rate, chunk.pts = 8000, start
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    return path


def frame_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(frame.time) for frame in container.decode(video=0)]


def audio_digest(path: Path) -> str:
    with av.open(str(path)) as container:
        return hashlib.sha256(b"".join(bytes(p) for p in container.demux(audio=0) if p.size)).hexdigest()


@pytest.fixture
def tiny_colorizer(tiny_checkpoint: Path) -> inference.Colorizer:
    return inference.Colorizer.from_checkpoint(tiny_checkpoint, render_size=32)


def test_frames_timestamps_and_audio_come_through(tmp_path, tiny_colorizer):
    source = write_video(tmp_path / "film.mp4", scene_frames(13), audio=True)
    report = video.colorize_video(source, tmp_path / "out" / "film_color.mp4", tiny_colorizer)
    out = tmp_path / "out" / "film_color.mp4"
    assert report.frames == 13 and not report.interrupted
    assert frame_times(out) == pytest.approx(frame_times(source))
    assert audio_digest(out) == audio_digest(source)  # stream copy: the same bytes
    with av.open(str(out)) as container:
        colour = container.decode(video=0).__next__().to_ndarray(format="rgb24")
    assert colour.shape == (48, 64, 3)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["film_color.mp4"]  # no .part left


class Jitter:
    """A network stand-in: the true a*b* of each frame plus fresh noise, as per-frame colouring jitters."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.truth = [color.rgb_to_lab(f.astype(np.float32) / 255.0)[..., 1:] for f in frames]
        self.rng = np.random.default_rng(0)

    def __call__(self, index: int) -> np.ndarray:
        return (self.truth[index] + self.rng.normal(0.0, 4.0, self.truth[index].shape)).astype(np.float32)


def test_stable_chroma_holds_colour_still_and_starts_afresh_at_a_cut():
    frames = scene_frames(16, cut_at=10)
    jitter, stabilizer = Jitter(frames), video.StableChroma()
    Ls = [color.rgb_to_L(f.astype(np.float32) / 255.0) for f in frames]
    outputs, shots = [], []
    for index, L in enumerate(Ls):
        predicted = jitter(index)
        stable, new_shot = stabilizer(L, predicted)
        outputs.append((predicted, stable))
        shots.append(new_shot)
        if new_shot:
            np.testing.assert_array_equal(stable, predicted)  # a new shot takes the prediction as it is
    assert [i for i, shot in enumerate(shots) if shot] == [0, 10]
    # Frame to frame, away from the border the pan uncovers: the stable colour moves far less.
    change = {kind: np.mean([np.abs(outputs[i][kind][:, 8:-8] - np.roll(outputs[i - 1][kind], -1, axis=1)[:, 8:-8]).mean()
                             for i in range(4, 10)]) for kind in (0, 1)}
    assert change[1] < 0.5 * change[0]
    error = {kind: np.mean([np.abs(outputs[i][kind] - jitter.truth[i]).mean() for i in range(4, 10)]) for kind in (0, 1)}
    assert error[1] < error[0]  # averaging the jitter also brings it closer to the truth


def test_flicker_metric_ranks_stable_below_per_frame(tmp_path, tiny_colorizer):
    source = write_video(tmp_path / "truth.mp4", scene_frames(8))
    scores = video_metrics.score_video(source, tiny_colorizer)
    assert scores.frames == 8 and scores.pairs_left_out == 0
    rows = {variant: scores.row(variant) for variant in video_metrics.VARIANTS}
    assert rows["truth"]["ab_rmse"] == 0.0 and rows["truth"]["flicker"] > 0.0
    assert rows["stable"]["flicker"] <= rows["per-frame"]["flicker"]
    assert all(np.isfinite(value) for row in rows.values() for value in row.values())


def test_broken_videos_get_one_line_and_leave_nothing(tmp_path, tiny_colorizer):
    good = write_video(tmp_path / "good.mp4", scene_frames(30))
    (tmp_path / "text.mp4").write_text("not a video at all")
    with av.open(str(tmp_path / "sound.m4a"), "w") as out:  # audio only
        stream = out.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    out_dir = tmp_path / "out"
    with pytest.raises(ImageError, match=r"text\.mp4: not a readable video"):
        video.colorize_video(tmp_path / "text.mp4", out_dir / "a.mp4", tiny_colorizer)
    with pytest.raises(ImageError, match=r"sound\.m4a: no video stream \(it holds audio\)"):
        video.colorize_video(tmp_path / "sound.m4a", out_dir / "b.mp4", tiny_colorizer)
    with pytest.raises(ConfigError, match="would overwrite"):
        video.colorize_video(good, good, tiny_colorizer)
    # A film cut off mid-file (Matroska: readable as far as it goes, unlike an MP4 whose index is at its end)
    whole = write_video(tmp_path / "whole.mkv", scene_frames(60))
    (tmp_path / "cut.mkv").write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    report = video.colorize_video(tmp_path / "cut.mkv", out_dir / "cut.mkv", tiny_colorizer)
    assert 0 < report.frames < 60 and f"only {report.frames} of the 60 frames" in report.notes[-1]
    assert len(frame_times(out_dir / "cut.mkv")) == report.frames
    assert not any(p.name.endswith(".part") for p in out_dir.iterdir())


def test_a_folder_run_colours_photos_and_videos_and_skips_a_bad_video(tmp_path, tiny_checkpoint):
    source = tmp_path / "in"
    (source / "films").mkdir(parents=True)
    write_video(source / "films" / "reel.mp4", scene_frames(6))
    (source / "films" / "broken.mkv").write_bytes(b"\x1aE\xdf\xa3 not really")
    rgb = scene_frames(1)[0]
    from PIL import Image
    Image.fromarray(rgb).convert("L").save(source / "photo.png")
    result = CliRunner().invoke(colorize.main, ["--in", str(source), "--out", str(tmp_path / "out"),
                                                "--checkpoint", str(tiny_checkpoint), "--render-size", "32"])
    assert result.exit_code == 1, result.output
    assert (tmp_path / "out" / "photo.png").is_file() and len(frame_times(tmp_path / "out" / "films" / "reel.mp4")) == 6
    assert "broken.mkv: not a readable video" in result.output and "1 file(s) skipped" in result.output
    named = CliRunner().invoke(colorize.main, ["--in", str(source / "films" / "reel.mp4"), "--out",
                                               str(tmp_path / "named.mkv"), "--checkpoint", str(tiny_checkpoint),
                                               "--crf", "30", "--render-size", "32"])
    assert named.exit_code == 0, named.output
    assert len(frame_times(tmp_path / "named.mkv")) == 6 and "6 of 6 frames" in named.output


def test_under_torchrun_rank_0_lists_every_rank_s_videos_and_every_rank_exits_alike(tmp_path, tiny_checkpoint):
    """Three videos over two ranks (rank 0: a.mp4 and c.mkv, rank 1: b.mp4, the broken one): rank 0's
    summary names all three, and the broken video on rank 1 makes the whole run exit 1."""
    source = tmp_path / "in"
    source.mkdir()
    write_video(source / "a.mp4", scene_frames(4))
    (source / "b.mp4").write_bytes(b"not a video at all")
    write_video(source / "c.mkv", scene_frames(5))
    command = torchrun_command("colorize", "--in", source, "--out", tmp_path / "out", "--checkpoint",
                               tiny_checkpoint, "--render-size", 32, "--progress-interval", 0)
    result = subprocess.run(command, cwd=tmp_path, env=LOOPBACK, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{source / 'a.mp4'}: 4 of 4 frames" in result.stdout and f"{source / 'c.mkv'}: 5 of 5 frames" in result.stdout
    assert "b.mp4: not a readable video" in result.stdout and "1 file(s) skipped" in result.stderr + result.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.mp4", "c.mkv"]


def test_without_pyav_a_video_is_refused_in_one_line(monkeypatch, tmp_path, tiny_colorizer):
    import builtins
    real_import = builtins.__import__

    def no_av(name, *args, **kwargs):
        if name == "av":
            raise ImportError("No module named 'av'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_av)
    with pytest.raises(ConfigError, match=r"pip install 'gan-colorizer\[video\]'"):
        video.colorize_video(tmp_path / "x.mp4", tmp_path / "y.mp4", tiny_colorizer)


def test_evaluate_video_prints_the_flicker_table(tmp_path, tiny_checkpoint):
    import json

    from gan_colorizer.cli import evaluate
    source = write_video(tmp_path / "clip.mp4", scene_frames(6))
    result = CliRunner().invoke(evaluate.main, ["--video", str(source), "--checkpoint", str(tiny_checkpoint),
                                                "--json", str(tmp_path / "v.json")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("| clip.mp4 |")]
    assert [line.split("|")[3].strip() for line in lines] == list(video_metrics.VARIANTS)
    saved = json.loads((tmp_path / "v.json").read_text())["clip.mp4"]
    assert saved["frames"] == 6 and saved["truth"]["ab_rmse"] == 0.0


def test_network_every_second_frame_keeps_every_frame_and_follows_the_motion(tmp_path, tiny_colorizer, monkeypatch):
    source = write_video(tmp_path / "film.mp4", scene_frames(9))
    calls = []
    predict = tiny_colorizer.predict
    monkeypatch.setattr(tiny_colorizer, "predict", lambda Ls, *a, **k: calls.append(len(Ls)) or predict(Ls, *a, **k))
    report = video.colorize_video(source, tmp_path / "out.mp4", tiny_colorizer, network_every=2)
    assert report.frames == 9 and len(frame_times(tmp_path / "out.mp4")) == 9
    assert sum(calls) == 5  # frames 0, 2, 4, 6, 8: the pan never cuts, so the others follow the flow


def test_ctrl_c_removes_the_partial_output_and_says_how_far_it_got(tmp_path, tiny_colorizer, monkeypatch):
    import os
    import signal
    source = write_video(tmp_path / "film.mp4", scene_frames(12))
    colour_batch = video._colour_batch

    def interrupted_after_one_batch(*args, **kwargs):
        colour_batch(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends; the run's handler turns it into a stop

    monkeypatch.setattr(video, "_colour_batch", interrupted_after_one_batch)
    report = video.colorize_video(source, tmp_path / "out" / "film.mp4", tiny_colorizer)
    assert report.interrupted and report.frames == video.BATCH
    assert list((tmp_path / "out").iterdir()) == []  # neither the output nor its .part
    assert source.is_file() and len(frame_times(source)) == 12  # the input untouched


def test_shot_hints_hold_for_their_shot_and_points_move_with_the_content():
    from gan_colorizer import hint_file, mood, points
    warm = hint_file.parse({"gan_colorizer_hints": 1, "look": {"mood": "warm"},
                            "points": [{"x": 20, "y": 10, "color": "#c03020"}]}, "test")
    shots = video.ShotHints({3: warm}, request=None)
    motion = np.zeros((12, 16, 2), np.float32)
    motion[..., 0] = 1.0  # every pixel was one working pixel to the right: the scene moves left
    shots.frame(2, False, motion, (24, 32))
    assert shots.request is None and shots.points == ()
    shots.frame(3, False, motion, (24, 32))
    assert shots.request == mood.control("warm") and shots.points[0].x == 20
    shots.frame(4, False, motion, (24, 32))
    assert shots.points[0].x == pytest.approx(18.0) and shots.points[0].y == 10  # 1 working pixel = 2 full
    shots.frame(5, True, None, (24, 32))  # a cut ends the entry
    assert shots.request is None and shots.points == ()
    assert points.Point  # the module the hints are made of


def test_a_video_hint_file_is_checked_before_any_output(tmp_path, tiny_colorizer, monkeypatch):
    import json
    source = write_video(tmp_path / "film.mp4", scene_frames(8))
    beside = tmp_path / "film.hints.json"
    beside.write_text(json.dumps({"gan_colorizer_hints": 1, "shots": [{"frame": 0, "points": [[5, 5, "#ff0000"]]}]}))
    with pytest.raises(ConfigError, match=r"film\.hints\.json: has colour points, but this model takes none"):
        video.colorize_video(source, tmp_path / "out" / "film.mp4", tiny_colorizer)
    assert not (tmp_path / "out").exists()
    beside.write_text(json.dumps({"gan_colorizer_hints": 1, "shots": [{"look": {"mood": "warm"}}]}))
    with pytest.raises(ConfigError, match=r"shot entry 1 needs its own \"frame\""):
        video.colorize_video(source, tmp_path / "out" / "film.mp4", tiny_colorizer)
    beside.write_text(json.dumps({"gan_colorizer_hints": 1, "shots": [{"frame": 2, "look": {"mood": "warm"}}]}))
    asked = []
    predict = tiny_colorizer.predict
    monkeypatch.setattr(tiny_colorizer, "predict", lambda Ls, request=None, *a, **k: asked.append(request) or
                        predict(Ls, request, *a, **k))
    report = video.colorize_video(source, tmp_path / "out" / "film.mp4", tiny_colorizer)
    assert report.frames == 8
    # one shot: the look given at frame 2 holds from its first frame
    assert asked and all(request is not None and request.label == "warm" for request in asked)


def test_subtitles_are_copied_where_the_container_holds_them_and_named_where_not(tmp_path, tiny_colorizer):
    (tmp_path / "subs.srt").write_text("1\n00:00:00,000 --> 00:00:00,500\nHello\n\n2\n00:00:00,600 --> 00:00:00,900\n"
                                       "World\n")
    source = tmp_path / "film.mkv"
    with av.open(str(tmp_path / "subs.srt")) as srt, av.open(str(source), "w") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.height, stream.width, stream.pix_fmt = 48, 64, "yuv420p"
        subtitles = out.add_stream_from_template(srt.streams.subtitles[0])
        for packet in srt.demux(srt.streams.subtitles[0]):
            if packet.dts is not None:
                packet.stream = subtitles
                out.mux(packet)
        for index, rgb in enumerate(scene_frames(10)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, 10)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))

    def texts(path: Path) -> list[bytes]:
        with av.open(str(path)) as container:
            return [bytes(p) for p in container.demux(subtitles=0) if p.size] if container.streams.subtitles else []

    assert video.colorize_video(source, tmp_path / "out.mkv", tiny_colorizer).notes == []
    assert texts(tmp_path / "out.mkv") == texts(source) == [b"Hello", b"World"]
    report = video.colorize_video(source, tmp_path / "out.mp4", tiny_colorizer)
    assert report.frames == 10 and texts(tmp_path / "out.mp4") == []
    assert any("subtitle stream 1 (srt) not copied" in note and ".mkv" in note for note in report.notes)


def test_the_output_says_which_colour_matrix_its_frames_were_converted_with(tmp_path, tiny_colorizer):
    source = write_video(tmp_path / "film.mp4", scene_frames(4, size=(48, 64)))
    video.colorize_video(source, tmp_path / "out.mp4", tiny_colorizer)
    with av.open(str(tmp_path / "out.mp4")) as container:
        context = container.streams.video[0].codec_context
        assert (context.colorspace, context.color_range, context.color_primaries) == (6, 1, 1)  # BT.601, limited, sRGB


def test_a_look_holds_for_its_whole_shot_and_a_reference_photo_is_found_beside_the_hints(tmp_path, tiny_colorizer,
                                                                                         monkeypatch):
    import json

    from PIL import Image
    source = write_video(tmp_path / "film.mp4", scene_frames(12, cut_at=6))
    assert video.shot_starts(source, tiny_colorizer.render_size) == [0, 6]
    Image.fromarray(np.ascontiguousarray(data.coffee()[::8, ::8])).save(tmp_path / "sepia.jpg")
    (tmp_path / "film.hints.json").write_text(json.dumps({"gan_colorizer_hints": 1, "shots": [
        {"frame": 9, "look": {"reference": "sepia.jpg"}}]}))  # given late in the second shot
    asked = []
    predict = tiny_colorizer.predict
    monkeypatch.setattr(tiny_colorizer, "predict", lambda Ls, request=None, *a, **k: asked.append(request) or
                        predict(Ls, request, *a, **k))
    report = video.colorize_video(source, tmp_path / "out.mp4", tiny_colorizer, network_every=1)
    assert report.frames == 12 and report.cuts == 1
    labels = [None if request is None else request.label for request in asked]
    assert labels == [None] * 6 + ["sepia.jpg"] * 6  # from the second shot's first frame, not from frame 9


def test_an_uploaded_hint_file_cannot_name_a_reference_path():
    from gan_colorizer import hint_file
    with pytest.raises(ConfigError, match="hint file on disk"):
        hint_file.parse({"gan_colorizer_hints": 1, "look": {"reference": "/etc/passwd"}}, "the hint file")


def test_an_unknown_encoder_is_one_line_and_another_one_works(tmp_path, tiny_colorizer):
    source = write_video(tmp_path / "film.mp4", scene_frames(4))
    with pytest.raises(ConfigError, match="--codec nosuchcodec: FFmpeg here has no such encoder"):
        video.colorize_video(source, tmp_path / "a.mp4", tiny_colorizer, encoding=video.VideoEncoding("nosuchcodec"))
    assert not list(tmp_path.glob(".*.part")) and not (tmp_path / "a.mp4").exists()
    report = video.colorize_video(source, tmp_path / "b.webm", tiny_colorizer, encoding=video.VideoEncoding("libvpx-vp9"))
    assert report.frames == 4 and len(frame_times(tmp_path / "b.webm")) == 4
