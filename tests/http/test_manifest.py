"""The add-in manifest, checked offline.

``office-addin-manifest validate`` posts XML manifests to a Microsoft web service, so it cannot
run here; these checks cover what can be checked without it: well-formed XML in the schema's
element order, resource ids defined once and all used, string lengths, HTTPS URLs on one
origin that name files the service serves, and the runtime, function and command names
matching launchevent.js. docs/service.md says what remains for the online validator.
"""

from __future__ import annotations

import re
import struct
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
from addin_service import ADDIN

NS = {
    "o": "http://schemas.microsoft.com/office/appforoffice/1.1",
    "bt": "http://schemas.microsoft.com/office/officeappbasictypes/1.0",
    "v": "http://schemas.microsoft.com/office/mailappversionoverrides",
    "v11": "http://schemas.microsoft.com/office/mailappversionoverrides/1.1",
}
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
ORIGIN = "https://localhost:8765"
# The OfficeApp children in the order the schema's sequence requires (optional ones may be absent).
ORDER = ["Id", "AlternateId", "Version", "ProviderName", "DefaultLocale", "DisplayName", "Description",
         "IconUrl", "HighResolutionIconUrl", "SupportUrl", "AppDomains", "Hosts", "Requirements",
         "FormSettings", "Permissions", "Rule", "DisableEntityHighlighting", "VersionOverrides"]  # fmt: skip


@pytest.fixture(scope="module")
def root() -> ET.Element:
    return ET.parse(ADDIN / "manifest.xml").getroot()


@pytest.fixture(scope="module")
def v11(root: ET.Element) -> ET.Element:
    [overrides] = root.findall("v:VersionOverrides/v11:VersionOverrides", NS)
    return overrides


@pytest.fixture(scope="module")
def resources(v11: ET.Element) -> dict[str, ET.Element]:
    found: dict[str, ET.Element] = {}
    for element in v11.find("v11:Resources", NS).iter():
        if "id" in element.attrib and element.tag.startswith(tag("bt", "")):
            assert element.attrib["id"] not in found, f"resource id {element.attrib['id']} defined twice"
            found[element.attrib["id"]] = element
    return found


def tag(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


def extension_point(v11: ET.Element, kind: str) -> ET.Element:
    [point] = [p for p in v11.iter(tag("v11", "ExtensionPoint")) if p.attrib[XSI_TYPE] == kind]
    return point


def url_of(resources: dict[str, ET.Element], resid: str) -> str:
    return resources[resid].attrib["DefaultValue"]


def local(tag: str) -> str:
    return tag.rpartition("}")[2]


SCRIPT = (ADDIN / "launchevent.js").read_text(encoding="utf-8")


def test_top_level_elements_in_schema_order(root: ET.Element) -> None:
    assert local(root.tag) == "OfficeApp" and root.attrib[XSI_TYPE] == "MailApp"
    names = [local(child.tag) for child in root]
    assert names == [n for n in ORDER if n in names] and len(set(names)) == len(names)
    uuid.UUID(root.findtext("o:Id", namespaces=NS))
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", root.findtext("o:Version", namespaces=NS) or "")
    assert root.findtext("o:Permissions", namespaces=NS) == "ReadItem"  # the least that reads a draft


def test_resource_ids_are_consistent(v11: ET.Element, resources: dict[str, ET.Element]) -> None:
    used = {e.attrib["resid"] for e in v11.iter() if "resid" in e.attrib}
    assert used == set(resources), f"undefined: {used - set(resources)}; unused: {set(resources) - used}"
    assert all(len(resid) <= 32 for resid in resources)
    for element in resources.values():
        kind = local(element.tag)
        value = element.attrib["DefaultValue"]
        assert kind in ("Image", "Url", "String")
        if kind == "String":
            parent = (
                "ShortStrings"
                if element in v11.findall(".//bt:ShortStrings/bt:String", NS)
                else "LongStrings"
            )
            assert len(value) <= (125 if parent == "ShortStrings" else 250)


def test_mailbox_requirement_is_at_least_1_12(v11: ET.Element) -> None:
    [sets] = v11.findall("v11:Requirements/bt:Sets", NS)
    major, minor = map(int, sets.attrib["DefaultMinVersion"].split("."))
    assert (major, minor) >= (1, 12)
    assert [s.attrib["Name"] for s in sets.findall("bt:Set", NS)] == ["Mailbox"]


def test_launch_event_runtime_and_function_match_the_script(
    v11: ET.Element, resources: dict[str, ET.Element]
) -> None:
    [runtime] = v11.findall(".//v11:Runtimes/v11:Runtime", NS)
    [override] = runtime.findall("v11:Override", NS)
    assert override.attrib["type"] == "javascript"
    assert url_of(resources, runtime.attrib["resid"]).endswith("/addin/commands.html")
    assert url_of(resources, override.attrib["resid"]).endswith("/addin/launchevent.js")
    point = extension_point(v11, "LaunchEvent")
    assert point.find("v11:SourceLocation", NS).attrib["resid"] == runtime.attrib["resid"]
    [event] = point.findall("v11:LaunchEvents/v11:LaunchEvent", NS)
    assert event.attrib["Type"] == "OnMessageSend" and event.attrib["SendMode"] == "SoftBlock"
    name = event.attrib["FunctionName"]
    associated = re.findall(r'Office\.actions\.associate\("(\w+)",\s*(\w+)\)', SCRIPT)
    assert associated == [(name, name)]
    assert re.search(rf"^\s*function {name}\(event\)", SCRIPT, re.M)
    commands = (ADDIN / "commands.html").read_text(encoding="utf-8")
    assert commands.index("/hosted/office.js") < commands.index('src="launchevent.js"')


def test_task_pane_button_is_the_smart_alerts_command(
    v11: ET.Element, resources: dict[str, ET.Element]
) -> None:
    point = extension_point(v11, "MessageComposeCommandSurface")
    [control] = point.findall(".//v11:Control", NS)
    assert re.search(rf'commandId: "{control.attrib["id"]}"', SCRIPT)
    action = control.find("v11:Action", NS)
    assert action is not None and action.attrib[XSI_TYPE] == "ShowTaskpane"
    assert url_of(resources, action.find("v11:SourceLocation", NS).attrib["resid"]).endswith(
        "/addin/taskpane.html"
    )
    assert (
        resources[control.find("v11:Label", NS).attrib["resid"]].attrib["DefaultValue"] == "Check this draft"
    )


def test_every_url_is_https_on_one_origin_and_served(root: ET.Element) -> None:
    urls = [
        e.attrib["DefaultValue"] for e in root.iter() if e.attrib.get("DefaultValue", "").startswith("http")
    ]
    urls += [e.text or "" for e in root.iter(tag("o", "AppDomain"))]
    assert len(urls) > 8
    for url in urls:
        parts = urlsplit(url)
        assert f"{parts.scheme}://{parts.netloc}" == ORIGIN, url
        if parts.path.startswith("/addin/"):
            assert (ADDIN / parts.path.removeprefix("/addin/")).is_file(), url


@pytest.mark.parametrize("size", [16, 32, 64, 80, 128])
def test_icons_have_their_stated_size(size: int) -> None:
    data = (ADDIN / "assets" / f"icon-{size}.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (size, size)
