import io

from backend.follow import ProgressDisplay, format_eta
from protocol.messages import Progress


def test_eta_format():
    assert format_eta(None) == "ETA --:--"
    assert format_eta(75.4) == "ETA 01:15"
    assert format_eta(3725) == "ETA 1:02:05"


def test_plain_output_names_stages_and_reports_eta_periodically():
    out = io.StringIO()
    display = ProgressDisplay(out, line_every_s=0.0)
    display.update(Progress(stage="coarse", step=1, total=10, fraction=0.05, eta_s=90))
    display.update(Progress(stage="coarse", step=5, total=10, fraction=0.25, eta_s=60))
    display.update(Progress(stage="fine", step=1, total=20, fraction=0.55, eta_s=30))
    text = out.getvalue()
    assert "stage coarse: 10 steps" in text and "stage fine: 20 steps" in text
    assert "coarse 5/10 (25% of the job) ETA 01:00" in text


def test_a_generators_files_are_saved_as_the_folder_out_generator(tmp_path):
    from backend.follow import save_result
    from protocol.messages import ResultItem, ResultManifest

    files = {"mesh.glb": b"glb", "generator.json": b"{}", "generator.safetensors": b"weights", "texture.png": b"png"}
    manifest = ResultManifest(
        items=tuple(ResultItem(name=n, kind="file", nbytes=len(v), nchunks=1, media_type="model/gltf-binary" if n == "mesh.glb" else "x/y") for n, v in files.items()),
        chunk_bytes=1 << 20,
    )
    written = save_result(files, manifest, tmp_path / "out.glb")
    assert (tmp_path / "out.glb").read_bytes() == b"glb" and (tmp_path / "out.texture.png").exists()
    assert (tmp_path / "out.generator" / "generator.json").read_bytes() == b"{}"
    assert (tmp_path / "out.generator" / "generator.safetensors").read_bytes() == b"weights"
    assert len(written) == 4
