"""protocol/ must import where only the stdlib, msgpack and pyzmq exist (the Blender add-on's situation)."""

import subprocess
import sys

BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in {'torch', 'bpy', 'numpy', 'PIL', 'backend', 'diffusers', 'trimesh'}:
            raise ImportError('blocked: ' + name)
        return None
sys.meta_path.insert(0, Block())
import protocol, protocol.client, protocol.download, protocol.connection, protocol.framing, protocol.transport, protocol.cameras
print('ok', sorted(m for m in sys.modules if m.split('.')[0] in {'torch', 'bpy', 'numpy'}))
"""


def test_protocol_imports_without_torch_bpy_or_numpy():
    out = subprocess.run([sys.executable, "-c", BLOCKER], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok []"
