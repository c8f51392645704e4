//! A private D-Bus session bus for one test: a real `dbus-daemon`, and on
//! it the desktop's side, implemented here: a StatusNotifierWatcher (the
//! panel's registry of tray items) and a notification server, both
//! recording what they are asked. [`Bus`] also reads an item's properties
//! and clicks its menu entries, as a panel does.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use tempfile::TempDir;
use zbus::zvariant::{OwnedValue, Value};

/// A notification the server was sent.
#[derive(Debug, Clone)]
pub struct Notification {
    pub app_name: String,
    pub summary: String,
    pub body: String,
}

/// What the fake desktop recorded.
#[derive(Debug, Default)]
struct Seen {
    items: Vec<String>,
    notifications: Vec<Notification>,
}

/// `org.kde.StatusNotifierWatcher`, as a panel offers it.
struct Watcher(Arc<Mutex<Seen>>);

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    fn register_status_notifier_item(&self, service: String) {
        self.0.lock().unwrap().items.push(service);
    }

    fn register_status_notifier_host(&self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.0.lock().unwrap().items.clone()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

/// `org.freedesktop.Notifications`, as a notification daemon offers it.
struct Notifications(Arc<Mutex<Seen>>);

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Notifications {
    #[allow(clippy::too_many_arguments, reason = "the D-Bus method's signature")]
    fn notify(
        &self,
        app_name: String,
        _replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        _actions: Vec<String>,
        _hints: HashMap<String, OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let mut seen = self.0.lock().unwrap();
        seen.notifications.push(Notification {
            app_name,
            summary,
            body,
        });
        u32::try_from(seen.notifications.len()).unwrap()
    }

    fn close_notification(&self, _id: u32) {}

    fn get_capabilities(&self) -> Vec<String> {
        vec!["body".to_owned()]
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        (
            "syncroll-test".to_owned(),
            "syncroll".to_owned(),
            "1".to_owned(),
            "1.2".to_owned(),
        )
    }
}

/// A `dbus-daemon` of its own, and the fake desktop on it. Dropping it
/// stops the bus.
pub struct Bus {
    pub address: String,
    daemon: Child,
    runtime: tokio::runtime::Runtime,
    connection: zbus::Connection,
    seen: Arc<Mutex<Seen>>,
    dir: TempDir,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("address", &self.address)
            .finish()
    }
}

/// dbusmenu's `(ia{sv}av)`: an entry's id, properties and children.
type Layout = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

/// A menu entry as the item's dbusmenu lays it out.
#[derive(Debug, Clone)]
pub struct MenuNode {
    pub id: i32,
    pub label: String,
    pub enabled: bool,
    /// A toggle's `toggle-state` is 1.
    pub checked: bool,
    pub children: Vec<MenuNode>,
}

impl MenuNode {
    /// This entry or the first below it whose label is `label`.
    pub fn find(&self, label: &str) -> Option<&MenuNode> {
        if self.label == label {
            return Some(self);
        }
        self.children.iter().find_map(|child| child.find(label))
    }
}

impl Bus {
    /// Starts `dbus-daemon` on a socket in a temp dir, then serves the
    /// watcher and the notification server on it.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("session.conf");
        std::fs::write(&config, bus_config(dir.path())).unwrap();
        // Its complaints (as root it cannot raise its fd limit) go to a
        // file, shown if the test fails.
        let log = dir.path().join("dbus-daemon.log");
        let mut daemon = Command::new("dbus-daemon")
            .arg("--nofork")
            .arg("--print-address=1")
            .arg(format!("--config-file={}", config.display()))
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start dbus-daemon ({e}); install it (Debian: apt-get install dbus-daemon)"
                )
            });
        let mut address = String::new();
        BufReader::new(daemon.stdout.take().unwrap())
            .read_line(&mut address)
            .unwrap();
        let address = address.trim().to_owned();
        assert!(!address.is_empty(), "dbus-daemon printed no address");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let connection = runtime.block_on(serve(&address, &seen));
        Self {
            address,
            daemon,
            runtime,
            connection,
            seen,
            dir,
        }
    }

    /// The bus names items registered with the watcher.
    pub fn registered_items(&self) -> Vec<String> {
        self.seen.lock().unwrap().items.clone()
    }

    /// Every notification sent so far.
    pub fn notifications(&self) -> Vec<Notification> {
        self.seen.lock().unwrap().notifications.clone()
    }

    /// A property of the item `service` (`Status`, `IconName`, ...).
    pub fn item_property(&self, service: &str, name: &str) -> Result<OwnedValue, zbus::Error> {
        self.runtime.block_on(async {
            let reply = self
                .connection
                .call_method(
                    Some(service),
                    "/StatusNotifierItem",
                    Some("org.freedesktop.DBus.Properties"),
                    "Get",
                    &("org.kde.StatusNotifierItem", name),
                )
                .await?;
            reply.body().deserialize::<OwnedValue>()
        })
    }

    /// A string property of the item.
    pub fn item_string(&self, service: &str, name: &str) -> Result<String, String> {
        let value = self
            .item_property(service, name)
            .map_err(|e| e.to_string())?;
        match plain(&value) {
            Value::Str(text) => Ok(text.to_string()),
            other => Err(format!("{name} is not a string: {other:?}")),
        }
    }

    /// How many pictures an `a(iiay)` property of the item holds
    /// (`IconPixmap`, `OverlayIconPixmap`).
    pub fn item_pixmaps(&self, service: &str, name: &str) -> Result<usize, String> {
        let value = self
            .item_property(service, name)
            .map_err(|e| e.to_string())?;
        match plain(&value) {
            Value::Array(pictures) => Ok(pictures.len()),
            other => Err(format!("{name} is not an array: {other:?}")),
        }
    }

    /// The item's tooltip: its title and its text.
    pub fn item_tooltip(&self, service: &str) -> Result<(String, String), String> {
        let value = self
            .item_property(service, "ToolTip")
            .map_err(|e| e.to_string())?;
        let Value::Structure(tooltip) = plain(&value) else {
            return Err(format!("the tooltip is not a struct: {value:?}"));
        };
        match tooltip.fields() {
            [_, _, Value::Str(title), Value::Str(text)] => {
                Ok((title.to_string(), text.to_string()))
            }
            other => Err(format!("unexpected tooltip fields: {other:?}")),
        }
    }

    /// The item's whole menu, from its dbusmenu's `GetLayout`.
    pub fn menu(&self, service: &str) -> Result<MenuNode, zbus::Error> {
        let path = self.menu_path(service)?;
        self.runtime.block_on(async {
            let reply = self
                .connection
                .call_method(
                    Some(service),
                    path.as_str(),
                    Some("com.canonical.dbusmenu"),
                    "GetLayout",
                    &(0i32, -1i32, Vec::<&str>::new()),
                )
                .await?;
            let (_revision, (id, properties, children)): (u32, Layout) =
                reply.body().deserialize()?;
            Ok(MenuNode {
                id,
                label: label(properties.iter().map(|(k, v)| (k.as_str(), &**v))),
                enabled: true,
                checked: false,
                children: children.iter().map(|child| menu_node(child)).collect(),
            })
        })
    }

    /// Clicks the menu entry `id` of the item, as a panel does.
    pub fn click(&self, service: &str, id: i32) -> Result<(), zbus::Error> {
        let path = self.menu_path(service)?;
        self.runtime.block_on(async {
            self.connection
                .call_method(
                    Some(service),
                    path.as_str(),
                    Some("com.canonical.dbusmenu"),
                    "Event",
                    &(id, "clicked", Value::from(0i32), 0u32),
                )
                .await?;
            Ok(())
        })
    }

    fn menu_path(&self, service: &str) -> Result<String, zbus::Error> {
        let value = self.item_property(service, "Menu")?;
        match plain(&value) {
            Value::ObjectPath(path) => Ok(path.to_string()),
            other => Err(zbus::Error::Failure(format!("Menu is {other:?}"))),
        }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("dbus-daemon.log"));
            eprintln!("--- dbus-daemon log ---\n{}", log.unwrap_or_default());
        }
    }
}

/// A session bus listening in `dir`, letting everyone own any name.
fn bus_config(dir: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        dir.display()
    )
}

async fn serve(address: &str, seen: &Arc<Mutex<Seen>>) -> zbus::Connection {
    zbus::connection::Builder::address(address)
        .unwrap()
        .serve_at("/StatusNotifierWatcher", Watcher(seen.clone()))
        .unwrap()
        .serve_at(
            "/org/freedesktop/Notifications",
            Notifications(seen.clone()),
        )
        .unwrap()
        .name("org.kde.StatusNotifierWatcher")
        .unwrap()
        .name("org.freedesktop.Notifications")
        .unwrap()
        .build()
        .await
        .expect("serve the watcher and the notification server")
}

/// A value with its variant wrappers taken off.
fn plain<'a>(value: &'a Value<'a>) -> &'a Value<'a> {
    match value {
        Value::Value(inner) => plain(inner),
        other => other,
    }
}

fn menu_node(value: &Value<'_>) -> MenuNode {
    let Value::Structure(node) = plain(value) else {
        panic!("a menu node is not a struct: {value:?}");
    };
    let [
        Value::I32(id),
        Value::Dict(properties),
        Value::Array(children),
    ] = node.fields()
    else {
        panic!("unexpected menu node fields: {:?}", node.fields());
    };
    let properties: Vec<(&str, &Value<'_>)> = properties
        .iter()
        .filter_map(|(key, value)| match key {
            Value::Str(key) => Some((key.as_str(), value)),
            _ => None,
        })
        .collect();
    let enabled = properties
        .iter()
        .find(|(key, _)| *key == "enabled")
        .is_none_or(|(_, value)| !matches!(plain(value), Value::Bool(false)));
    let checked = properties
        .iter()
        .any(|(key, value)| *key == "toggle-state" && matches!(plain(value), Value::I32(1)));
    MenuNode {
        id: *id,
        label: label(properties.iter().copied()),
        enabled,
        checked,
        children: children.inner().iter().map(menu_node).collect(),
    }
}

/// The `label` property, underscores of access keys taken out.
fn label<'a>(mut properties: impl Iterator<Item = (&'a str, &'a Value<'a>)>) -> String {
    properties
        .find(|(key, _)| *key == "label")
        .and_then(|(_, value)| match plain(value) {
            Value::Str(text) => Some(
                text.replace("__", "\u{0}")
                    .replace('_', "")
                    .replace('\u{0}', "_"),
            ),
            _ => None,
        })
        .unwrap_or_default()
}
