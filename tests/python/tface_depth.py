"""The TFace reference's depth-key rule (DG_Dataset._convert_to_depth), applied to every
key read from stdin (one a line); prints the results in order. Test helper for the `tface`
depth-rule preset (go/internal/dataset)."""
import sys


def convert_to_depth(image_path):
    # As TFace's DG_Dataset: four chained str.replace calls, each replacing every occurrence.
    depth_path = image_path.replace('replayattack', 'replayattack_depth')
    depth_path = depth_path.replace('CASIA_database', 'CASIA_database_depth')
    depth_path = depth_path.replace('MSU-MFSD', 'MSU-MFSD_depth')
    depth_path = depth_path.replace('Oulu_NPU', 'Oulu_NPU_depth')
    return depth_path


for line in sys.stdin.read().splitlines():
    print(convert_to_depth(line))
