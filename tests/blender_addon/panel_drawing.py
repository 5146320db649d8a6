"""Draw the add-on's panels and menus headless, with a layout that records what they show and checks what they name.

Under ``bpy`` as a module there is no UI to draw into; this layout stands in for ``UILayout``
and fails on a property, operator (or operator property), menu or icon Blender does not have,
so a typo in a panel fails the scenario instead of an artist's sidebar.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import bpy

ICONS = set(bpy.types.UILayout.bl_rna.functions["label"].parameters["icon"].enum_items.keys())


def _check_icon(icon: str) -> None:
    assert icon in ICONS, f"no icon {icon!r}"


class OperatorButton:
    """What ``layout.operator`` returns: its properties may be set, and only the operator's own."""

    def __init__(self, idname: str) -> None:
        category, name = idname.split(".")
        operator = getattr(getattr(bpy.ops, category), name)
        object.__setattr__(self, "_properties", set(operator.get_rna_type().properties.keys()))
        object.__setattr__(self, "_idname", idname)

    def __setattr__(self, name: str, value: Any) -> None:
        assert name in self._properties, f"operator {self._idname} has no property {name!r}"


class RecordingLayout:
    """A stand-in for ``bpy.types.UILayout``; ``shown`` collects every label, button and progress text."""

    def __init__(self, shown: list[str]) -> None:
        object.__setattr__(self, "shown", shown)

    def __setattr__(self, name: str, value: Any) -> None:
        assert name in bpy.types.UILayout.bl_rna.properties, f"UILayout has no {name!r}"

    def row(self, **_: Any) -> "RecordingLayout":
        return RecordingLayout(self.shown)

    column = row
    box = row

    def label(self, text: str = "", icon: str = "NONE") -> None:
        _check_icon(icon)
        self.shown.append(text)

    def prop(self, data: Any, name: str, text: str | None = None, icon: str = "NONE", **_: Any) -> None:
        assert name in data.bl_rna.properties, f"{data.bl_rna.identifier} has no property {name!r}"
        _check_icon(icon)
        self.shown.append(text if text is not None else data.bl_rna.properties[name].name)

    def template_ID(self, data: Any, name: str, **_: Any) -> None:
        self.prop(data, name)

    def operator(self, idname: str, text: str | None = None, icon: str = "NONE") -> OperatorButton:
        _check_icon(icon)
        button = OperatorButton(idname)
        self.shown.append(text if text is not None else idname)
        return button

    def menu(self, menu: str, text: str = "") -> None:
        assert isinstance(getattr(bpy.types, menu, None), type), f"no menu {menu!r} registered"
        self.shown.append(text)

    def progress(self, factor: float, text: str = "") -> None:
        assert 0.0 <= factor <= 1.0, factor
        self.shown.append(text)

    def template_icon(self, icon_value: int, scale: float = 1.0) -> None:
        assert isinstance(icon_value, int) and icon_value >= 0, icon_value  # 0 under bpy as a module: no icon previews without a UI
        self.shown.append(f"<icon {icon_value}>")


class _Drawn:
    """``self`` for a panel's or menu's ``draw``: the recording layout, the class's other members."""

    def __init__(self, cls: type, layout: RecordingLayout) -> None:
        self.layout, self._cls = layout, cls

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cls, name)


def draw_all(panels: ModuleType) -> str:
    """Everything the add-on's panels and menus show right now, one line per item."""
    shown: list[str] = []
    for cls in panels.classes:
        cls.draw(_Drawn(cls, RecordingLayout(shown)), bpy.context)
    return "\n".join(shown)
