"""The papers' own evaluations, as small pure modules the ``distill3d eval`` command puts together.

- :mod:`.images`: PSNR (on the objects' bounding box) and LPIPS of renders;
- :mod:`.similarity`: CLIP image / text similarity, or the weight-free stand-in when no CLIP weights are on disk;
- :mod:`.shapes`: Chamfer distance / diagonal, volume IoU and F-score of a mesh against the ground truth;
- :mod:`.family`: a generator's resemblance to its family (nearest-member IoU) and diversity (mean pairwise 1 − IoU);
- :mod:`.occupancy`: which grid cells a mesh encloses (the IoUs' occupancy, by ray winding numbers);
- :mod:`.orbit`: turntable and novel-view cameras;
- :mod:`.objects`: object specs (a family member, ``random:<seed>``, a GLB) → ground truth, and meshes as renderable objects;
- :mod:`.dtc123`, :mod:`.cad`: the two methods' protocols (DTC123 Sec. 5; CAD's 120-frame orbit);
- :mod:`.report`: the table and the JSON file.
"""
