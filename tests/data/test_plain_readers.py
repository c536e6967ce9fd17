"""The plain readers (layouts, vocabulary, CUB / COCO / folder readers, synthetic birds) need
no TensorFlow: a fresh process reads a data set without importing it."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_reading_a_data_set_does_not_import_tensorflow(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        from mirrorgan_keras import config
        from mirrorgan_keras.runtime import run_files
        from mirrorgan_keras.data import coco, cub, datasets, folder, layout, records, text
        from mirrorgan_keras.data import vocabulary, load_split
        from mirrorgan_keras.data.synthetic_birds import generate_synthetic_birds

        generate_synthetic_birds({str(tmp_path / "birds")!r}, num_train=9, num_test=2,
                                 image_size=32, num_workers=1)
        data = config.DataConfig(dataset="synthetic_birds", data_dir={str(tmp_path / "birds")!r})
        train = load_split(data, config.TextConfig(), "train")
        assert len(train) == 9 and train.bboxes.shape == (9, 4), train
        loaded = sorted(name for name in sys.modules if name.split(".")[0] in
                        ("tensorflow", "tensorflow_text", "keras"))
        print(loaded)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"
