"""Print the "Kubedesk Apps" menu as XFCE's menu library (garcon) builds it.

launcher/menu's tests run this with XDG_CONFIG_HOME and XDG_DATA_HOME set to
the folders Write filled, and compare the output with what they expect. It
needs /usr/bin/python3 with python3-gi and gir1.2-garcon-1.0.
"""

import gi

gi.require_version("Garcon", "1.0")
from gi.repository import Garcon  # noqa: E402


def walk(menu, depth):
    for el in menu.get_elements():
        if isinstance(el, Garcon.Menu):
            if el.get_elements():
                print("  " * depth + "[" + el.get_name() + "]")
                walk(el, depth + 1)
        elif isinstance(el, Garcon.MenuItem):
            print("  " * depth + el.get_name() + " :: " + el.get_command())


root = Garcon.Menu.new_applications()
root.load(None)
for el in root.get_elements():
    if isinstance(el, Garcon.Menu) and el.get_name() == "Kubedesk Apps":
        print("[Kubedesk Apps]")
        walk(el, 1)
    elif isinstance(el, Garcon.Menu) and el.get_name() == "Other":
        # Entries the menu did not place anywhere else land here.
        for item in el.get_elements():
            if isinstance(item, Garcon.MenuItem) and "kubedesk" in item.get_desktop_id():
                print("unplaced: " + item.get_desktop_id())
