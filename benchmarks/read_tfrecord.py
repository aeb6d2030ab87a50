"""Synthetic NB-101 only108-like file: n_rows rows (3 repeats per hash), time read_nb101_tfrecord."""
import json, sys, time, hashlib
import numpy as np
from infonas.searchspace import nb101_records as R
n_rows = int(sys.argv[1]); path = sys.argv[2]
adj = [[0,1,1,1,0,1,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,1,0,0],[0,0,0,0,0,0,1],[0,0,0,0,0,0,1],[0,0,0,0,0,0,0]]
names = ["input","conv1x1-bn-relu","conv3x3-bn-relu","conv3x3-bn-relu","conv3x3-bn-relu","maxpool3x3","output"]
rng = np.random.default_rng(0)
def rows():
    for i in range(n_rows):
        h = hashlib.md5(str(i // 3).encode()).hexdigest()
        v = rng.random(4)
        ev = [{"current_epoch": e, "training_time": float(v[3])*e, "train_accuracy": float(v[2]), "validation_accuracy": float(v[0]),
               "test_accuracy": float(v[1]), "checkpoint_path": f"gs://bucket/nasbench/{h}/repeat_{i%3+1}/model.ckpt-{int(e*3125)}"} for e in (0.0, 54.0, 108.0)]
        yield R.encode_nb101_row(h, 108, adj, names, {"evaluation_data": ev, "trainable_parameters": 2694282, "total_time": 1700.5})
R.write_tfrecord(path, rows())
import os
size = os.path.getsize(path)
t = time.perf_counter()
for _ in R.iter_records(path): pass
t_frame = time.perf_counter() - t
t = time.perf_counter()
space = R.read_nb101_tfrecord(path, verify_sample=0)
t_read = time.perf_counter() - t
print(json.dumps({"rows": n_rows, "bytes": size, "bytes_per_row": size / n_rows, "unique": int(space["hash"].size),
                  "framing_rows_per_s": round(n_rows / t_frame), "read_rows_per_s": round(n_rows / t_read), "read_s": round(t_read, 2),
                  "projected_only108_s": round(423624 * 3 / (n_rows / t_read), 1)}))
