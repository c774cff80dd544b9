"""vmsched.Fleet: hosts with Placement inventories, and the VMs allocated on them.

Units: VCPU in whole vCPUs (host total = pCPUs), MEMORY_MB in MiB, DISK_GB in GiB; any other
class name is allowed and counted in its own whole units.
"""

import numpy as np
import pandas as pd

from vmsched import _validate
from vmsched.accounting import realised_overcommit, stranded_capacity
from vmsched.engine import FleetState, dtypes
from vmsched.errors import InvalidInventory, InvalidRequest, UnknownHost, UnknownResource, shown
from vmsched.presets import resolve_preset
from vmsched.models.vm_settings import FIELDS as SCHEDULING_FIELDS
from vmsched.models.power import DEFAULT_POWER_MODEL, resolve_power_model
from vmsched.models.vm_settings import VMSettings

DEFAULT_RESOURCES = ("VCPU", "MEMORY_MB", "DISK_GB")
INVENTORY_FIELDS = ("total", "reserved", "allocation_ratio", "min_unit", "max_unit",
                    "step_size")


def check_inventory(fields, labels=None):
    """Validate and convert inventory fields (arrays of one shape); return them as a dict.

    Placement's rules: total >= 0, 0 <= reserved <= total, allocation_ratio finite and > 0,
    min_unit >= 1, step_size >= 1, max_unit >= 0, min_unit <= max_unit where total > 0, and
    the capacity int((total - reserved) * allocation_ratio) at most 2**62.
    """
    error = InvalidInventory
    total = _validate.whole_numbers("total", fields["total"], labels=labels, error=error)
    shape = total.shape
    out = {"total": total}
    out["reserved"] = _validate.whole_numbers("reserved", fields["reserved"], shape,
                                              labels=labels, error=error)
    out["allocation_ratio"] = _validate.positive_reals(
        "allocation_ratio", fields["allocation_ratio"], shape, labels=labels, error=error)
    for name in ("min_unit", "step_size"):
        out[name] = _validate.whole_numbers(name, fields[name], shape, minimum=1,
                                            maximum=dtypes.MAX_UNIT, dtype=dtypes.UNIT,
                                            labels=labels, error=error)
    max_unit = fields["max_unit"]
    out["max_unit"] = _validate.whole_numbers(
        "max_unit", total if max_unit is None else max_unit, shape, labels=labels, error=error)
    with np.errstate(over="ignore"):     # a huge ratio overflows to inf: still refused
        too_large = (total - out["reserved"]) * out["allocation_ratio"] > 2.0**62
    checks = [
        (out["reserved"] > total, "reserved", "is greater than total"),
        ((total > 0) & (out["min_unit"] > out["max_unit"]), "min_unit",
         "is greater than max_unit"),
        (too_large, "allocation_ratio", "makes the capacity larger than 2**62"),
    ]
    for mask, name, problem in checks:
        if mask.any():
            bad = tuple(int(i) for i in np.argwhere(mask)[0])
            where = _validate.position(bad, labels)
            raise InvalidInventory(f"{name}{where} = {out[name][bad]} {problem}")
    return out


class Fleet(FleetState):
    """A fleet of hosts, each with one Placement inventory record per resource class.

    Each inventory field accepts a scalar, one value per class (shape (n_resources,)), one
    value per host and class (shape (n_hosts, n_resources)), or a dict {class name: scalar or
    per-host array} overriding the default for some classes.

    total: whole amounts, shape (n_hosts, n_resources) or dict {class: per-host array}.
    reserved: kept back for the host (default 0). allocation_ratio: overcommit (default 1.0).
    min_unit, max_unit, step_size: request granularity (defaults 1, total, 1).
    host_names: optional unique labels for the hosts (default: their indices).
    power_model: every host's power model, a PowerModel or preset name (default
    DEFAULT_POWER_MODEL, see vmsched.models.power); set_power_model changes some hosts'.

    The low-latency calls come from the native base class: `allocate(host, request,
    tenant=0) -> vm`, `release(vm)`, `resize(vm, request)`, `fits(request) -> mask`.
    """

    def __init__(self, total, *, resources=None, reserved=0, allocation_ratio=1.0, min_unit=1,
                 max_unit=None, step_size=1, host_names=None, power_model=None):
        if isinstance(total, dict):
            resources = tuple(total) if resources is None else tuple(resources)
            if set(resources) != set(total):
                raise InvalidInventory(f"total names classes {sorted(total)}, resources names "
                                       f"{sorted(resources)}")
            columns = [np.asarray(total[name]) for name in resources]
            lengths = {column.shape for column in columns}
            if len(lengths) != 1 or len(columns[0].shape) != 1:
                raise InvalidInventory(f"the per-class totals must be 1-D arrays of one length, "
                                       f"got shapes {sorted(lengths)}")
            total = np.stack(columns, axis=1)
        total = np.asarray(total)
        resources = tuple(DEFAULT_RESOURCES if resources is None else resources)
        if total.ndim != 2 or total.shape[0] == 0 or total.shape[1] != len(resources):
            raise InvalidInventory(f"total has shape {total.shape}; expected (n_hosts >= 1, "
                                   f"{len(resources)}) for resources {resources}")
        _check_resource_names(resources)
        if len(resources) > dtypes.MAX_RESOURCES:
            raise InvalidInventory(f"{len(resources)} resource classes; at most "
                                   f"{dtypes.MAX_RESOURCES} are supported")
        n_hosts = total.shape[0]
        if n_hosts > dtypes.MAX_INDEX:
            raise InvalidInventory(f"n_hosts = {n_hosts} is above {dtypes.MAX_INDEX}")
        shape = total.shape
        raw = {"total": total}
        defaults = {"reserved": 0, "allocation_ratio": 1.0, "min_unit": 1, "step_size": 1}
        given = {"reserved": reserved, "allocation_ratio": allocation_ratio,
                 "min_unit": min_unit, "step_size": step_size}
        for name, value in given.items():
            raw[name] = _per_class(name, value, defaults[name], resources, shape)
        raw["max_unit"] = (None if max_unit is None
                           else _per_class("max_unit", max_unit, None, resources, shape, total))
        labels = (None, resources)
        fields = check_inventory(raw, labels)
        names = _host_names(host_names, n_hosts)
        model = resolve_power_model(DEFAULT_POWER_MODEL if power_model is None else power_model)
        super().__init__(resources, *(fields[name] for name in INVENTORY_FIELDS))
        self._host_names = names
        self._vm_settings = VMSettings()
        self._power_models = [model] * n_hosts
        self._power_codes = np.full(n_hosts, model.code, np.int64)
        self._power_points = np.tile(model.points, (n_hosts, 1))

    # ------------------------------------------------------------ constructors

    @classmethod
    def uniform(cls, n_hosts, *, vcpus=64, memory_mib=262144, disk_gib=4096,
                overcommit="nova", extra=None, cpu_allocation_ratio=None,
                ram_allocation_ratio=None, disk_allocation_ratio=None, reserved_host_cpus=None,
                reserved_host_memory_mib=None, reserved_host_disk_gib=None, power_model=None):
        """n_hosts identical hosts: `vcpus` pCPUs, `memory_mib` MiB, `disk_gib` GiB.

        overcommit: a preset name ('nova', 'nova_pre_stein', 'none') or OvercommitPreset;
        the Nova-named keyword arguments override single values of it. extra: {class name:
        total} for further classes (ratio 1.0, nothing reserved). power_model: a PowerModel or
        preset name (default: DEFAULT_POWER_MODEL, 150 W idle to 400 W, linear).
        """
        n_hosts = _validate.integer("n_hosts", n_hosts, minimum=1, maximum=dtypes.MAX_INDEX)
        preset = resolve_preset(overcommit)
        ratios, reservations = preset.ratios(), preset.reservations()
        for name, value in (("VCPU", cpu_allocation_ratio), ("MEMORY_MB", ram_allocation_ratio),
                            ("DISK_GB", disk_allocation_ratio)):
            if value is not None:
                ratios[name] = value
        for name, value in (("VCPU", reserved_host_cpus), ("MEMORY_MB", reserved_host_memory_mib),
                            ("DISK_GB", reserved_host_disk_gib)):
            if value is not None:
                reservations[name] = value
        totals = {"VCPU": vcpus, "MEMORY_MB": memory_mib, "DISK_GB": disk_gib}
        totals.update(extra or {})
        resources = tuple(totals)
        for name, value in totals.items():
            if np.ndim(value) != 0:
                raise InvalidInventory(f"{name} total = {shown(value)} must be a single number")
        row = np.array([totals[name] for name in resources])
        total = np.broadcast_to(row, (n_hosts, len(resources)))
        return cls(total, resources=resources,
                   reserved={k: v for k, v in reservations.items() if k in resources},
                   allocation_ratio={k: v for k, v in ratios.items() if k in resources},
                   power_model=power_model)

    @classmethod
    def from_frame(cls, frame, *, overcommit=None):
        """A fleet from a DataFrame, in either of two layouts.

        Tidy (as `to_frame()` writes it): one row per (host, resource) with a `total` column
        and optionally the other inventory fields; the host is the `host` column or the first
        index level. Wide: one row per host (index = host names), one column of totals per
        resource class.
        overcommit: a preset applied on top (ratios and reservations of VCPU, MEMORY_MB,
        DISK_GB), or None to take the frame's values (defaults where absent).
        """
        if not isinstance(frame, pd.DataFrame) or frame.empty:
            raise InvalidInventory("from_frame needs a non-empty pandas DataFrame")
        if "total" in frame.columns and ("resource" in frame.columns
                                         or "resource" in frame.index.names):
            tidy = frame.reset_index()
            if "host" not in tidy.columns:
                tidy = tidy.rename(columns={tidy.columns[0]: "host"})
            hosts = pd.unique(tidy["host"])
            resources = tuple(pd.unique(tidy["resource"]))
            wide = {}
            for field in INVENTORY_FIELDS:
                if field in tidy.columns:
                    table = tidy.pivot(index="host", columns="resource", values=field)
                    table = table.reindex(index=hosts, columns=list(resources))
                    if table.isna().any().any():
                        raise InvalidInventory(f"{field} is missing for some (host, resource) "
                                               f"pairs")
                    wide[field] = table.to_numpy()
            kwargs = {field: wide[field] for field in INVENTORY_FIELDS[1:] if field in wide}
            fleet = cls(wide["total"], resources=resources, host_names=list(hosts), **kwargs)
        else:
            resources = tuple(str(c) for c in frame.columns)
            fleet = cls(frame.to_numpy(), resources=resources, host_names=list(frame.index))
        if overcommit is not None:
            fleet.set_overcommit(overcommit)
        return fleet

    # ------------------------------------------------------------ names

    @property
    def host_names(self):
        """Host labels, a pandas Index (RangeIndex when the hosts have no names)."""
        return self._host_names

    def host_index(self, host):
        """Dense index of a host given by name (or by index when the hosts have no names)."""
        try:
            position = self._host_names.get_loc(host)
        except (KeyError, TypeError, pd.errors.InvalidIndexError):
            raise UnknownHost(f"host {shown(host)} is not in this fleet") from None
        if not isinstance(position, (int, np.integer)):
            raise UnknownHost(f"host {shown(host)} is not a unique host name")
        return int(position)

    def resource_index(self, resource):
        """Column of a resource class name."""
        try:
            return self.resources.index(resource)
        except ValueError:
            raise UnknownResource(f"resource class {shown(resource)} is not in this fleet; it has "
                                  f"{', '.join(self.resources)}") from None

    # ------------------------------------------------------------ inventory changes

    def set_inventory(self, resource, *, hosts=None, total=None, reserved=None,
                      allocation_ratio=None, min_unit=None, max_unit=None, step_size=None):
        """Change the inventory of one class on some hosts (all when hosts is None).

        Fields not given keep their values, except that a max_unit that equalled total keeps
        tracking it when total changes. Each field is a scalar or one value per host. Nothing
        is evicted: a host that is now over capacity admits nothing more of that class
        until enough is released. All-or-nothing: on an error nothing changes.
        """
        r = self.resource_index(resource)
        host_idx = self._host_selection(hosts)
        shape = host_idx.shape
        current = {name: getattr(self, name)[host_idx, r] for name in INVENTORY_FIELDS}
        given = {"total": total, "reserved": reserved, "allocation_ratio": allocation_ratio,
                 "min_unit": min_unit, "max_unit": max_unit, "step_size": step_size}
        raw = {}
        for name, value in given.items():
            if value is None:
                raw[name] = current[name]
            else:
                array = np.asarray(value)
                if array.ndim > 1:
                    raise InvalidInventory(f"{name} has shape {array.shape}; expected a scalar "
                                           f"or one value per host ({shape[0]})")
                raw[name] = value
        if total is not None and max_unit is None:
            new_total = _validate.whole_numbers("total", total, shape, error=InvalidInventory)
            tracking = current["max_unit"] == current["total"]
            raw["max_unit"] = np.where(tracking, new_total, current["max_unit"])
        labels = (list(host_idx),)
        fields = check_inventory({name: np.broadcast_to(np.asarray(raw[name]), shape)
                                  if np.ndim(raw[name]) == 0 else raw[name]
                                  for name in INVENTORY_FIELDS}, labels)
        for name in INVENTORY_FIELDS:
            if fields[name].shape != shape:
                raise InvalidInventory(f"{name} has shape {fields[name].shape}; expected "
                                       f"{shape}")
        self.replace_inventory(host_idx, r, *(fields[name] for name in INVENTORY_FIELDS))

    def set_overcommit(self, preset=None, *, hosts=None, **ratios):
        """Apply an overcommit preset and/or ratios {class: ratio} to some or all hosts.

        A preset sets the ratios and reservations of VCPU, MEMORY_MB and DISK_GB (classes the
        fleet lacks are skipped); keyword arguments set ratios of named classes.
        """
        updates = {}
        if preset is not None:
            preset = resolve_preset(preset)
            for name, ratio in preset.ratios().items():
                if name in self.resources:
                    updates[name] = {"allocation_ratio": ratio,
                                     "reserved": preset.reservations()[name]}
        for name, ratio in ratios.items():
            self.resource_index(name)
            updates.setdefault(name, {})["allocation_ratio"] = ratio
        # Validate every class before changing any, so that an error changes nothing.
        host_idx = self._host_selection(hosts)
        for name, change in updates.items():
            r = self.resource_index(name)
            probe = {field: getattr(self, field)[host_idx, r] for field in INVENTORY_FIELDS}
            probe.update({k: np.broadcast_to(np.asarray(v), host_idx.shape)
                          for k, v in change.items()})
            check_inventory(probe, (list(host_idx),))
        for name, change in updates.items():
            self.set_inventory(name, hosts=host_idx, **change)

    # ------------------------------------------------------------ power

    def set_power_model(self, model, *, hosts=None):
        """The power model (a PowerModel or preset name) of some or all hosts."""
        model = resolve_power_model(model)
        selection = self._host_selection(hosts)
        for h in selection.tolist():
            self._power_models[h] = model
        self._power_codes[selection] = model.code
        self._power_points[selection] = model.points

    def power_model(self, host):
        """The PowerModel of one host (its name, or its index when the hosts have none)."""
        return self._power_models[self.host_index(host)]

    def power_models(self):
        """Every host's PowerModel, by host index (a tuple)."""
        return tuple(self._power_models)

    def power_arrays(self):
        """(kind codes int64 [n_hosts], watt points float64 [n_hosts, 11]): every host's power
        model as the engine's kernels take it (read-only views)."""
        codes, points = self._power_codes.view(), self._power_points.view()
        codes.flags.writeable = points.flags.writeable = False
        return codes, points

    def _host_selection(self, hosts):
        if hosts is None:
            return np.arange(self.n_hosts, dtype=dtypes.INDEX)
        array = np.atleast_1d(np.asarray(hosts))
        if array.ndim != 1 or array.size == 0:
            raise InvalidRequest(f"hosts = {shown(hosts)} must be a non-empty 1-D selection")
        if array.dtype.kind in "iu":
            bad = (array < 0) | (array >= self.n_hosts)
            if bad.any():
                raise UnknownHost(f"host {array[bad][0]} is not in this fleet of "
                                  f"{self.n_hosts} hosts")
            if len(np.unique(array)) != len(array):
                raise InvalidRequest("hosts lists a host twice")
            return array.astype(dtypes.INDEX)
        if array.dtype.kind == "b":
            raise InvalidRequest("hosts must be host indices or names, not a bool mask")
        return self._host_selection(np.array([self.host_index(h) for h in array]))

    # ------------------------------------------------------------ tables and accounting

    def to_frame(self):
        """Inventory and usage, one row per (host, resource): the inventory fields,
        capacity, used and free (= capacity - used, negative while over capacity)."""
        index = pd.MultiIndex.from_product([self._host_names, self.resources],
                                           names=["host", "resource"])
        columns = {name: getattr(self, name).ravel() for name in INVENTORY_FIELDS}
        columns["capacity"] = self.capacity.ravel()
        columns["used"] = self.used.ravel()
        columns["free"] = columns["capacity"] - columns["used"]
        return pd.DataFrame(columns, index=index)

    def usage(self):
        """Used amount per host (rows) and resource class (columns)."""
        return pd.DataFrame(self.used, index=self._host_names,
                            columns=pd.Index(self.resources, name="resource"))

    def tenant_usage(self):
        """Allocated totals per tenant (rows) and resource class (columns)."""
        return pd.DataFrame(self.tenant_used, index=pd.Index(self.tenant_ids, name="tenant",
                                                             dtype=object),
                            columns=pd.Index(self.resources, name="resource"))

    def vms(self):
        """The allocated VMs: handle (index), host, tenant and allocation per class."""
        live = self.live_vms()
        frame = pd.DataFrame(self.vm_request[live], index=pd.Index(live, name="vm"),
                             columns=list(self.resources))
        frame.insert(0, "host", np.asarray(self.vm_host)[live])
        tenant_ids = np.array(self.tenant_ids + [None], dtype=object)
        frame.insert(1, "tenant", tenant_ids[np.asarray(self.vm_tenant_code)[live]])
        return frame

    @property
    def vm_settings(self):
        """The per-VM scheduling settings table (vmsched.models.vm_settings.VMSettings)."""
        return self._vm_settings

    def set_vm_scheduling(self, vm, **settings):
        """Set a live VM's scheduling settings (fields not given keep their values).

        cpu_shares (default 1000 per vCPU), cpu_reservation and cpu_limit in cores (defaults 0
        and the VM's vCPUs); memory_shares (default 10 per MiB), memory_reservation and
        memory_limit in MiB (defaults 0 and the VM's MiB). Rules: shares > 0,
        0 <= reservation <= limit <= size. The settings end with the VM (a reused handle
        starts from the defaults). Raises InvalidRequest / UnknownVM with nothing changed.
        """
        self._vm_settings.set(self, vm, **settings)

    def vm_scheduling(self):
        """The scheduling settings in force for every allocated VM (defaults filled in)."""
        live = self.live_vms()
        return pd.DataFrame(self._vm_settings.effective(self, live),
                            index=pd.Index(live, name="vm"), columns=list(SCHEDULING_FIELDS))

    def realised_overcommit(self, per_host=False, scope="in_use"):
        """Committed / guest-usable physical amount: used / (total - reserved), per class.

        per_host: a DataFrame (hosts x classes; NaN where total == reserved). Otherwise a
        Series per class over the hosts that hold a VM (scope='in_use') or all hosts
        (scope='all'). Compare it with allocation_ratio: it reaches it on a full host.
        """
        return realised_overcommit(self, per_host=per_host, scope=scope)

    def stranded_capacity(self, shape=None):
        """Free capacity that a reference VM shape cannot use because another class is
        exhausted. shape: one amount per class; default the most common
        request among the allocated VMs. Returns a DataFrame per class: stranded, free,
        stranded_fraction, hosts (how many hosts strand some of it)."""
        return stranded_capacity(self, shape)

    def __repr__(self):
        return (f"<Fleet {self.n_hosts} hosts x {self.n_resources} classes "
                f"{self.resources}, {self.n_vms} VMs>")


def _check_resource_names(resources):
    if not resources or any(not isinstance(n, str) or not n for n in resources):
        raise InvalidInventory(f"resources = {shown(resources)} must be non-empty strings")
    if len(set(resources)) != len(resources):
        raise InvalidInventory(f"resources = {shown(resources)} names a class twice")


def _per_class(name, value, default, resources, shape, total=None):
    """Expand a dict {class: scalar or per-host array} into a full array; pass others on."""
    if not isinstance(value, dict):
        return value
    unknown = set(value) - set(resources)
    if unknown:
        raise UnknownResource(f"{name} names unknown resource classes {sorted(unknown)}; "
                              f"the fleet has {', '.join(resources)}")
    columns = []
    for r, resource in enumerate(resources):
        if resource in value:
            column = np.asarray(value[resource])
            if column.ndim > 1:
                raise InvalidInventory(f"{name}[{resource}] has shape {column.shape}; expected "
                                       f"a scalar or ({shape[0]},)")
            columns.append(column)
        else:
            columns.append(np.asarray(total[:, r] if default is None else default))
    dtype = np.result_type(*columns)
    return np.stack([np.broadcast_to(c, (shape[0],)).astype(dtype) for c in columns], axis=1)


def _host_names(host_names, n_hosts):
    if host_names is None:
        return pd.RangeIndex(n_hosts, name="host")
    names = pd.Index(list(host_names), name="host")
    if len(names) != n_hosts:
        raise InvalidInventory(f"{len(names)} host_names for {n_hosts} hosts")
    if not names.is_unique:
        raise InvalidInventory("host_names are not unique")
    return names
