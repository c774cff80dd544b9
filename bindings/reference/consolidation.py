"""Reference model of CloudSim 3.0.3's power-aware dynamic consolidation, in plain Python.

Slow and literal: one small class per CloudSim object (PowerVm with its cloudlet,
PowerHostUtilizationHistory with its VmSchedulerTimeSharedOverSubscription and RAM/BW
provisioners, the allocation policy, the datacenter), each method a transcription of the Java
method it names, in the same order of floating-point operations. It exists to check the Numba
engine (vmsched.engine.simulation.kernels_consolidation) on small random instances.

Units: time in seconds, CPU in MIPS (a host has pcpus PEs of `speed` MIPS, a VM one PE of
`mips`), memory in MiB, bandwidth in kbit/s, power in W, energy in J (W s), utilisation as a
fraction of the host's (or VM's) total MIPS.

Only the single shared piece is the power model (`power_at`, CloudSim's PowerModel*
arithmetic). Where CloudSim would stop the JVM (System.exit: a utilisation above 1 given to a
power model), this model counts an anomaly and goes on as the engine does (the host is skipped
as a target, energy is taken at utilisation 1).

CloudSim behaviour kept on purpose: the next periodic update is scheduled only if some
cloudlet still gets MIPS (PowerDatacenter.updateCloudletProcessing: `minTime !=
Double.MAX_VALUE`); when every VM's demand is 0 at one update (so all of them are destroyed)
the periodic updates stop there, and with them the energy of npa. Not modelled: a cloudlet
finishing (RunnerAbstract's length, 2500 MIPS * 86400 s, is never reached).

rules="vmsched" drops CloudSim's quirks as vmsched.simulation.consolidation describes: VMs are
never destroyed, a VM always requests its full memory (so memory constrains placement), the
power rise is taken against the host's planned load, the overload phase's targets are not
emptied in the same round, updates fall at 0, 300, ... through the end (and once more at the
end), PowerVm's previous time starts at -1, and an idle host that holds VMs bills from its
idle power. Under vmsched's rules VMs may also have several vCPUs (a VM gets at most its
vCPUs' worth of pCPU speed, and needs that many pCPUs) and arrive and leave: present at the
updates with start_s <= t < end_s, created at the first of them (a VM that fits nowhere
waits and is tried again first at every next update), and gone at the first update at or
after its end, its migration, if one is under way, dropped.
"""

import math

import numpy as np

from vmsched.engine.models.kernels_power import power_at

#: PowerVm.HISTORY_LENGTH: utilisation values a VM keeps (most recent first).
HISTORY_LENGTH = 30
#: Java's Double.MAX_VALUE.
MAX_VALUE = 1.7976931348623157e308
#: The static threshold IQR, MAD and LR fall back to with too little history.
FALLBACK_THRESHOLD = 0.7


def java_round(x):
    """Java Math.round(double): floor(x + 0.5)."""
    return int(math.floor(x + 0.5))


# --- util/MathUtil and commons-math ----------------------------------------------------------

def percentile50(values):
    """commons-math3 DescriptiveStatistics.getPercentile(50) (legacy estimation): on the
    sorted data, pos = 0.5 (n + 1), lower + (pos - floor(pos)) * (upper - lower)."""
    data = sorted(values)
    n = len(data)
    if n == 0:
        return float("nan")
    if n == 1:
        return data[0]
    pos = 50 * (n + 1) / 100.0
    fpos = math.floor(pos)
    intpos = int(fpos)
    dif = pos - fpos
    if pos < 1:
        return data[0]
    if pos >= n:
        return data[n - 1]
    lower = data[intpos - 1]
    upper = data[intpos]
    return lower + dif * (upper - lower)


def count_non_zero_beginning(data):
    """MathUtil.countNonZeroBeginning: index after the last non-zero value (1 for an all-zero
    array, as the Java loop leaves it)."""
    i = len(data) - 1
    while i >= 0:
        value = data[i]
        i -= 1
        if value != 0:
            break
    return i + 2


def trim_zero_tail(data):
    """MathUtil.trimZeroTail."""
    return list(data[:count_non_zero_beginning(data)])


def iqr(data):
    """MathUtil.iqr: sorted data, indices round(0.25 (n + 1)) - 1 and round(0.75 (n + 1)) - 1."""
    data = sorted(data)
    q1 = java_round(0.25 * (len(data) + 1)) - 1
    q3 = java_round(0.75 * (len(data) + 1)) - 1
    return data[q3] - data[q1]


def mad(data):
    """MathUtil.mad: median of |median - x|."""
    if not data:
        return 0.0
    median = percentile50(data)
    return percentile50([abs(median - x) for x in data])


class SimpleRegression:
    """commons-math3 SimpleRegression (with intercept): the running sums of addData."""

    def __init__(self):
        self.sum_x = self.sum_xx = self.sum_y = self.sum_yy = self.sum_xy = 0.0
        self.n = 0
        self.xbar = self.ybar = 0.0

    def add_data(self, x, y):
        if self.n == 0:
            self.xbar = x
            self.ybar = y
        else:
            fact1 = 1.0 + self.n
            fact2 = self.n / (1.0 + self.n)
            dx = x - self.xbar
            dy = y - self.ybar
            self.sum_xx += dx * dx * fact2
            self.sum_yy += dy * dy * fact2
            self.sum_xy += dx * dy * fact2
            self.xbar += dx / fact1
            self.ybar += dy / fact1
        self.sum_x += x
        self.sum_y += y
        self.n += 1

    def slope(self):
        if self.n < 2 or abs(self.sum_xx) < 10 * 4.9e-324:
            return float("nan")
        return self.sum_xy / self.sum_xx

    def intercept(self):
        return (self.sum_y - self.slope() * self.sum_x) / self.n

    def parameter_estimates(self):
        """regress().getParameterEstimates(): [intercept, slope]."""
        return self.intercept(), self.slope()


def loess_parameter_estimates(y):
    """MathUtil.getLoessParameterEstimates (and getRobustLoessParameterEstimates: its weights
    are never <= 0, so createWeigthedLinearRegression never applies them and both are the
    plain regression of y on x = 1..n)."""
    regression = SimpleRegression()
    for i, value in enumerate(y):
        regression.add_data(float(i + 1), value)
    return regression.parameter_estimates()


# --- the VM and its cloudlet -----------------------------------------------------------------

class Vm:
    """PowerVm (Vm) with its one cloudlet (CloudletSchedulerDynamicWorkload running a cloudlet
    with UtilizationModelPlanetLabInMemory for CPU and UtilizationModelNull for RAM and BW).

    mips: its vCPUs' MIPS together (vcpus x a vCPU's speed); ram MiB; bw kbit/s; trace:
    utilisation samples every `interval` s from 0. vmsched's rules: present at the updates
    with start_s <= t < end_s."""

    def __init__(self, index, mips, ram, bw, trace, interval, rules, vcpus=1, start_s=0.0,
                 end_s=math.inf):
        self.id = index
        self.mips = float(mips)
        self.vcpus = float(vcpus)
        self.start_s = float(start_s)
        self.end_s = float(end_s)
        self.status = "not arrived"      # waiting, running, finished, not placed
        self.first_try = None
        self.ram = ram
        self.bw = bw
        self.trace = trace
        self.interval = interval
        self.rules = rules
        self.host = None                 # Vm.getHost()
        self.in_migration = False
        self.being_instantiated = True
        self.history = []                # PowerVm utilisation history, most recent first
        # PowerVm.previousTime (vmsched: -1 so that t = 0 counts).
        self.previous_time = 0.0 if rules == "cloudsim" else -1.0
        self.scheduler_previous_time = 0.0   # CloudletSchedulerDynamicWorkload.previousTime
        self.updated = False             # its cached requested MIPS are 0 until then
        self.state_history = []          # [time, allocated, requested, in migration]

    def utilization(self, time):
        """UtilizationModelPlanetLabInMemory.getUtilization(time)."""
        interval = self.interval
        if math.fmod(time, interval) == 0:
            return self.trace[int(time) // int(interval)]
        time1 = int(math.floor(time / interval))
        time2 = int(math.ceil(time / interval))
        u1 = self.trace[time1]
        u2 = self.trace[time2]
        delta = (u2 - u1) / ((time2 - time1) * interval)
        return u1 + delta * (time - time1 * interval)

    def total_utilization_of_cpu_mips(self, time):
        """Vm.getTotalUtilizationOfCpuMips(time): u(time) * mips."""
        return self.utilization(time) * self.mips

    def current_requested_mips(self):
        """Vm.getCurrentRequestedTotalMips (one PE): full MIPS while being instantiated, else
        the cloudlet's u at the scheduler's previous time * MIPS (0 before the first update:
        CloudletSchedulerDynamicWorkload's cache was filled at time 0 with no cloudlet)."""
        if self.being_instantiated:
            return self.mips
        if not self.updated:
            return 0.0
        return self.utilization(self.scheduler_previous_time) * self.mips / 1

    def current_requested_ram(self):
        """Vm.getCurrentRequestedRam: full while being instantiated, else 0 (null model);
        vmsched rules: always the full memory."""
        if self.being_instantiated or self.rules != "cloudsim":
            return self.ram
        return 0.0

    def current_requested_bw(self):
        """Vm.getCurrentRequestedBw: full while being instantiated, else 0 (vmsched rules: a
        VM's bandwidth is not a placement constraint, only the migrations' use of the link)."""
        if self.being_instantiated and self.rules == "cloudsim":
            return self.bw
        return 0.0

    def update_vm_processing(self, current_time, mips_share):
        """PowerVm.updateVmProcessing (and CloudletSchedulerDynamicWorkload's): returns the
        cloudlet's next event: MAX_VALUE when it gets no MIPS (CloudSim's estimate is then
        infinite), else a finite time (only its finiteness matters: current_time + 1 stands
        for time + remaining length / MIPS). Adds u(now) to the history at a periodic time
        ((now - 0.1) % interval == 0; vmsched: now % interval == 0)."""
        # CloudletSchedulerDynamicWorkload.updateVmProcessing: the estimate uses
        # min(u(now) * mips, the MIPS share given before this update's reallocation).
        requested = self.utilization(current_time) * self.mips
        available = sum(mips_share) if mips_share is not None else 0.0
        allocated = available if requested > available else requested
        next_event = MAX_VALUE if allocated == 0 else current_time + 1.0
        self.scheduler_previous_time = current_time
        self.updated = True
        if self.rules == "cloudsim":
            periodic = math.fmod(current_time - 0.1, self.interval) == 0
        else:
            periodic = math.fmod(current_time, self.interval) == 0
        if current_time > self.previous_time and periodic:
            utilization = self.utilization(self.scheduler_previous_time)
            if current_time != 0 or utilization != 0:
                self.add_utilization_history_value(utilization)
            self.previous_time = current_time
        return next_event

    def add_utilization_history_value(self, utilization):
        """PowerVm.addUtilizationHistoryValue."""
        self.history.insert(0, utilization)
        if len(self.history) > HISTORY_LENGTH:
            del self.history[HISTORY_LENGTH]

    def add_state_history_entry(self, time, allocated, requested, in_migration):
        """Vm.addStateHistoryEntry: an entry at the time of the last one replaces it."""
        entry = [time, allocated, requested, in_migration]
        if self.state_history and self.state_history[-1][0] == time:
            self.state_history[-1] = entry
            return
        self.state_history.append(entry)


# --- the host ---------------------------------------------------------------------------------

class Host:
    """PowerHostUtilizationHistory (HostDynamicWorkload, Host) with
    VmSchedulerTimeSharedOverSubscription, RamProvisionerSimple and BwProvisionerSimple.

    The scheduler's maps are kept in insertion order (CloudSim iterates HashMaps)."""

    def __init__(self, index, spec, model):
        self.id = index
        self.pe_mips = float(spec["speed"])
        self.pcpus = float(spec["pcpus"])
        self.total_mips = float(int(spec["pcpus"]) * spec["speed"])
        self.ram = spec["ram"]
        self.bw = spec["bw"]
        self.model = model
        self.vm_list = []
        self.vms_migrating_in = []
        # VmScheduler state.
        self.mips_requested = {}         # vm -> requested MIPS (one PE), insertion order
        self.mips_map = {}               # vm -> allocated MIPS
        self.sched_in = set()            # getVmsMigratingIn (uids)
        self.sched_out = set()           # getVmsMigratingOut
        self.available_mips = self.total_mips
        # Provisioners.
        self.ram_map = {}
        self.bw_map = {}
        # HostDynamicWorkload.
        self.utilization_mips = 0.0
        self.previous_utilization_mips = 0.0
        self.state_history = []

    # VmSchedulerTimeSharedOverSubscription ---------------------------------------------------
    def _allocate_inner(self, vm, requested):
        """VmSchedulerTimeSharedOverSubscription.allocatePesForVm(uid, mipsShareRequested)."""
        cap = self.pe_mips * vm.vcpus          # a VM gets at most its vCPUs' worth of pCPUs
        capped = cap if requested > cap else requested
        total = 0.0 + capped
        self.mips_requested[vm] = requested
        if vm in self.sched_in:
            total *= 0.1
        if self.available_mips >= total:
            mips = capped
            if vm in self.sched_out:
                mips *= 0.9
            elif vm in self.sched_in:
                mips *= 0.1
            self.mips_map[vm] = mips
            self.available_mips = self.available_mips - total
        else:
            self._redistribute()

    def _redistribute(self):
        """redistributeMipsDueToOverSubscription: every VM scaled by capacity / demand."""
        required_total = 0.0
        capped_map = {}
        for vm, requested in self.mips_requested.items():
            cap = self.pe_mips * vm.vcpus
            capped = cap if requested > cap else requested
            required = 0.0 + capped
            capped_map[vm] = capped
            if vm in self.sched_in:
                required *= 0.1
            required_total += required
        scaling = self.total_mips / required_total
        self.mips_map = {}
        for vm, mips in capped_map.items():
            if vm in self.sched_out:
                mips *= scaling
                mips *= 0.9
            elif vm in self.sched_in:
                mips *= 0.1
                mips *= scaling
            else:
                mips *= scaling
            self.mips_map[vm] = float(math.floor(mips))
        self.available_mips = 0.0

    def allocate_pes_for_vm(self, vm, requested):
        """VmSchedulerTimeShared.allocatePesForVm(vm, mipsShare): track migrating out, then
        allocate."""
        if vm.in_migration:
            if vm not in self.sched_in and vm not in self.sched_out:
                self.sched_out.add(vm)
        else:
            self.sched_out.discard(vm)
        self._allocate_inner(vm, requested)

    def deallocate_pes_for_vm(self, vm):
        """VmSchedulerTimeShared.deallocatePesForVm: forget vm, reallocate the others."""
        self.mips_requested.pop(vm, None)
        self.mips_map = {}
        self.available_mips = self.total_mips
        for other, requested in list(self.mips_requested.items()):
            self._allocate_inner(other, requested)

    def deallocate_pes_for_all_vms(self):
        """VmSchedulerTimeShared.deallocatePesForAllVms."""
        self.mips_map = {}
        self.available_mips = self.total_mips
        self.mips_requested = {}

    def total_allocated_mips_for_vm(self, vm):
        """VmScheduler.getTotalAllocatedMipsForVm."""
        if vm not in self.mips_map:
            return 0.0
        return 0.0 + self.mips_map[vm]

    # Provisioners ------------------------------------------------------------------------------
    def _allocate(self, table, capacity, vm, amount, maximum):
        """RamProvisionerSimple / BwProvisionerSimple.allocate*ForVm."""
        if amount >= maximum:
            amount = maximum
        table.pop(vm, None)
        if capacity - sum(table.values()) >= amount:
            table[vm] = amount
            return True
        return False

    def _suitable(self, table, capacity, vm, amount, maximum):
        """Provisioner isSuitableForVm: would the allocation succeed (keeping the current)."""
        if amount >= maximum:
            amount = maximum
        others = sum(value for key, value in table.items() if key is not vm)
        return capacity - others >= amount

    # Host --------------------------------------------------------------------------------------
    def is_suitable_for_vm(self, vm):
        """Host.isSuitableForVm."""
        requested = vm.current_requested_mips()
        return (self.pe_mips * vm.vcpus >= requested and self.available_mips >= requested
                and self.pcpus >= vm.vcpus
                and self._suitable(self.ram_map, self.ram, vm, vm.current_requested_ram(), vm.ram)
                and self._suitable(self.bw_map, self.bw, vm, vm.current_requested_bw(), vm.bw))

    def vm_create(self, vm):
        """Host.vmCreate."""
        if not self._allocate(self.ram_map, self.ram, vm, vm.current_requested_ram(), vm.ram):
            return False
        if not self._allocate(self.bw_map, self.bw, vm, vm.current_requested_bw(), vm.bw):
            self.ram_map.pop(vm, None)
            return False
        self.allocate_pes_for_vm(vm, vm.current_requested_mips())
        self.vm_list.append(vm)
        vm.host = self
        return True

    def vm_deallocate(self, vm):
        """Host.vmDeallocate."""
        self.ram_map.pop(vm, None)
        self.bw_map.pop(vm, None)
        self.deallocate_pes_for_vm(vm)

    def vm_destroy(self, vm):
        """Host.vmDestroy."""
        self.vm_deallocate(vm)
        if vm in self.vm_list:
            self.vm_list.remove(vm)
        vm.host = None

    def vm_destroy_all(self):
        """Host.vmDestroyAll."""
        self.ram_map = {}
        self.bw_map = {}
        self.deallocate_pes_for_all_vms()
        for vm in self.vm_list:
            vm.host = None
        self.vm_list = []

    def reallocate_migrating_in_vms(self):
        """Host.reallocateMigratingInVms."""
        for vm in self.vms_migrating_in:
            if vm not in self.vm_list:
                self.vm_list.append(vm)
            self.sched_in.add(vm)
            self._allocate(self.ram_map, self.ram, vm, vm.current_requested_ram(), vm.ram)
            self._allocate(self.bw_map, self.bw, vm, vm.current_requested_bw(), vm.bw)
            self.allocate_pes_for_vm(vm, vm.current_requested_mips())

    def add_migrating_in_vm(self, vm, now, datacenter):
        """Host.addMigratingInVm: vm allocated here at 10% until its migration completes."""
        vm.in_migration = True
        if vm not in self.vms_migrating_in:
            if not self._allocate(self.ram_map, self.ram, vm, vm.current_requested_ram(),
                                  vm.ram):
                raise RuntimeError(f"VM {vm.id} does not fit host {self.id} by memory "
                                   f"(CloudSim exits)")
            self._allocate(self.bw_map, self.bw, vm, vm.current_requested_bw(), vm.bw)
            self.sched_in.add(vm)
            self.allocate_pes_for_vm(vm, vm.current_requested_mips())
            self.vms_migrating_in.append(vm)
            self.vm_list.append(vm)
            self.update_vms_processing(now)
            vm.host.update_vms_processing(now)

    def remove_migrating_in_vm(self, vm):
        """Host.removeMigratingInVm."""
        self.vm_deallocate(vm)
        if vm in self.vms_migrating_in:
            self.vms_migrating_in.remove(vm)
        if vm in self.vm_list:
            self.vm_list.remove(vm)
        self.sched_in.discard(vm)
        vm.in_migration = False

    def update_vms_processing(self, current_time):
        """HostDynamicWorkload.updateVmsProcessing (after Host.updateVmsProcessing): every VM
        updates, the scheduler reallocates them all at their current request, and the VM and
        host state histories are written. Returns the earliest cloudlet event time."""
        smaller = MAX_VALUE
        for vm in self.vm_list:
            share = [self.mips_map[vm]] if vm in self.mips_map else None
            time = vm.update_vm_processing(current_time, share) if share is not None else 0.0
            if 0.0 < time < smaller:
                smaller = time
        self.previous_utilization_mips = self.utilization_mips
        self.utilization_mips = 0.0
        host_requested = 0.0
        for vm in self.vm_list:
            self.deallocate_pes_for_vm(vm)
        for vm in self.vm_list:
            self.allocate_pes_for_vm(vm, vm.current_requested_mips())
        for vm in self.vm_list:
            requested = vm.current_requested_mips()
            allocated = self.total_allocated_mips_for_vm(vm)
            if vm not in self.vms_migrating_in:
                vm.add_state_history_entry(current_time, allocated, requested,
                                           vm.in_migration and vm not in self.vms_migrating_in)
                if vm.in_migration:
                    allocated /= 0.9
            self.utilization_mips = self.utilization_mips + allocated
            host_requested += requested
        self.add_state_history_entry(current_time, self.utilization_mips, host_requested,
                                     self.utilization_mips > 0)
        return smaller

    def add_state_history_entry(self, time, allocated, requested, active):
        """HostDynamicWorkload.addStateHistoryEntry."""
        entry = [time, allocated, requested, active]
        if self.state_history and self.state_history[-1][0] == time:
            self.state_history[-1] = entry
            return
        self.state_history.append(entry)

    def completed_vms(self):
        """HostDynamicWorkload.getCompletedVms: VMs not in migration requesting 0 MIPS."""
        return [vm for vm in self.vm_list
                if not vm.in_migration and vm.current_requested_mips() == 0]

    def _clamp(self, mips):
        utilization = mips / self.total_mips
        if 1 < utilization < 1.01:
            utilization = 1.0
        return utilization

    def utilization_of_cpu(self):
        """HostDynamicWorkload.getUtilizationOfCpu (fraction, values in (1, 1.01) -> 1)."""
        return self._clamp(self.utilization_mips)

    def previous_utilization_of_cpu(self):
        """HostDynamicWorkload.getPreviousUtilizationOfCpu."""
        return self._clamp(self.previous_utilization_mips)

    def power(self, utilization, anomalies=None):
        """PowerHost.getPower(u), watts (u > 1 would stop CloudSim: taken at 1, counted)."""
        if utilization > 1:
            if anomalies is not None:
                anomalies[0] += 1
            utilization = 1.0
        return power_at(self.model[0], self.model[1], utilization)

    def energy_linear_interpolation(self, start, end, time, anomalies, cloudsim=True):
        """PowerHost.getEnergyLinearInterpolation, joules (0 from a utilisation of 0)."""
        if start == 0:
            if not cloudsim and self.vm_list:
                # vmsched: an idle host that holds VMs bills from its idle power.
                return self.power(end, anomalies) * time / 2 + self.power(0.0) * time / 2
            return 0.0
        p0 = self.power(start, anomalies)
        p1 = self.power(end, anomalies)
        return (p0 + (p1 - p0) / 2) * time

    def utilization_history(self):
        """PowerHostUtilizationHistory.getUtilizationHistory: sum over the VM list of each VM's
        history * its MIPS / the host's MIPS, zero tail trimmed."""
        history = [0.0] * HISTORY_LENGTH
        for vm in self.vm_list:
            for i, value in enumerate(vm.history):
                history[i] += value * vm.mips / self.total_mips
        return trim_zero_tail(history)


# --- the allocation policies -----------------------------------------------------------------

class AllocationPolicy:
    """PowerVmAllocationPolicyAbstract (vmTable) + PowerVmAllocationPolicySimple (first fit)
    and PowerVmAllocationPolicyMigrationAbstract with its detectors and selectors."""

    def __init__(self, hosts, policy, interval, rules, anomalies):
        self.hosts = hosts
        self.policy = policy
        self.migrate = policy.kind == "migrate"
        self.interval = interval
        self.rules = rules
        self.cloudsim = rules == "cloudsim"
        self.anomalies = anomalies
        self.vm_table = {}
        self.saved = []
        self.now = 0.0
        self.round_power = {}

    # PowerVmAllocationPolicyAbstract -------------------------------------------------------
    def allocate_host_for_vm(self, vm, host=None):
        """allocateHostForVm(vm[, host])."""
        if host is None:
            host = self.find_host_for_vm_initial(vm)
        if host is None:
            return False
        if host.vm_create(vm):
            self.vm_table[vm] = host
            return True
        return False

    def deallocate_host_for_vm(self, vm):
        """deallocateHostForVm: through the vmTable."""
        host = self.vm_table.pop(vm, None)
        if host is not None:
            host.vm_destroy(vm)

    def find_host_for_vm_initial(self, vm):
        """findHostForVm(vm): first fit (Simple) or the power-aware choice excluding the VM's
        host (MigrationAbstract)."""
        if not self.migrate:
            for host in self.hosts:
                if host.is_suitable_for_vm(vm):
                    return host
            return None
        excluded = {vm.host} if vm.host is not None else set()
        return self.find_host_for_vm(vm, excluded)

    # Detectors -----------------------------------------------------------------------------
    def _requested_utilization(self, host):
        total = 0.0
        for vm in host.vm_list:
            total += vm.current_requested_mips()
        return total / host.total_mips

    def _static_threshold(self, host, threshold):
        """PowerVmAllocationPolicyMigrationStaticThreshold.isHostOverUtilized."""
        return self._requested_utilization(host) > threshold

    def is_host_over_utilized(self, host):
        """isHostOverUtilized of StaticThreshold, InterQuartileRange, MedianAbsoluteDeviation,
        LocalRegression and LocalRegressionRobust (fallback: static threshold 0.7)."""
        detector = self.policy.detector
        parameter = self.policy.parameter
        if detector == "thr":
            return self._static_threshold(host, parameter)
        data = host.utilization_history()
        if detector in ("iqr", "mad"):
            if count_non_zero_beginning(data) < 12:
                return self._static_threshold(host, FALLBACK_THRESHOLD)
            spread = iqr(data) if detector == "iqr" else mad(data)
            upper = 1 - parameter * spread
            return self._requested_utilization(host) > upper
        if detector in ("lr", "lrr"):
            length = 10
            if len(data) < length:
                return self._static_threshold(host, FALLBACK_THRESHOLD)
            reversed_history = [data[length - i - 1] for i in range(length)]
            intercept, slope = loess_parameter_estimates(reversed_history)
            max_ram = -2147483648
            for vm in host.vm_list:
                if vm.ram > max_ram:
                    max_ram = vm.ram
            migration_time = max_ram / (host.bw / (2 * 8000))
            intervals = math.ceil(migration_time / self.interval)
            predicted = intercept + slope * (length + intervals)
            predicted *= parameter
            return predicted >= 1
        raise ValueError(f"unknown detector {detector!r}")

    # Selectors -----------------------------------------------------------------------------
    def vm_to_migrate(self, host):
        """PowerVmSelectionPolicyMinimumMigrationTime / MinimumUtilization.getVmToMigrate."""
        migratable = [vm for vm in host.vm_list if not vm.in_migration]
        if not migratable:
            return None
        chosen = None
        best = MAX_VALUE
        for vm in migratable:
            if self.policy.selector == "mmt":
                metric = vm.ram
            elif self.policy.selector == "mu":
                metric = vm.total_utilization_of_cpu_mips(self.now) / vm.mips
            else:
                raise NotImplementedError(f"selector {self.policy.selector!r}")
            if metric < best:
                best = metric
                chosen = vm
        return chosen

    # PowerVmAllocationPolicyMigrationAbstract ----------------------------------------------
    def utilization_of_cpu_mips(self, host):
        """getUtilizationOfCpuMips(host): allocations of the host's current list, a VM
        migrating in counted at its full demand (allocated * 0.9 / 0.1 more)."""
        total = 0.0
        for vm in host.vm_list:
            if vm in host.vms_migrating_in:
                total += host.total_allocated_mips_for_vm(vm) * 0.9 / 0.1
            total += host.total_allocated_mips_for_vm(vm)
        return total

    def is_host_over_utilized_after_allocation(self, host, vm):
        """isHostOverUtilizedAfterAllocation: create, detect, destroy."""
        result = True
        if host.vm_create(vm):
            result = self.is_host_over_utilized(host)
            host.vm_destroy(vm)
        return result

    def find_host_for_vm(self, vm, excluded):
        """findHostForVm(vm, excludedHosts): the suitable host whose power rises least (the
        rise against the host's power at its last update; vmsched: at its planned load)."""
        min_power = MAX_VALUE
        allocated = None
        for host in self.hosts:
            if host in excluded:
                continue
            if not host.is_suitable_for_vm(vm):
                continue
            planned = self.utilization_of_cpu_mips(host)
            if planned != 0 and self.is_host_over_utilized_after_allocation(host, vm):
                continue
            after = (planned + vm.current_requested_mips()) / host.total_mips
            if after > 1:
                # CloudSim: PowerModel throws, getPowerAfterAllocation exits the JVM.
                self.anomalies[0] += 1
                continue
            power_after = power_at(host.model[0], host.model[1], after)
            if self.cloudsim:
                base = host.power(host.utilization_of_cpu())
            else:
                base = host.power(min(planned / host.total_mips, 1.0))
            diff = power_after - base
            if diff < min_power:
                min_power = diff
                allocated = host
        return allocated

    def _sort_by_cpu_utilization(self, vms):
        """PowerVmList.sortByCpuUtilization: decreasing u(now) * mips, stable."""
        return sorted(vms, key=lambda vm: -vm.total_utilization_of_cpu_mips(self.now))

    def get_new_vm_placement(self, vms, excluded, all_or_nothing=False):
        """getNewVmPlacement; all_or_nothing: getNewVmPlacementFromUnderUtilizedHost (a VM
        that fits nowhere undoes the VMs planned before it, and none moves)."""
        migration_map = []
        for vm in self._sort_by_cpu_utilization(vms):
            host = self.find_host_for_vm(vm, excluded)
            if host is not None:
                host.vm_create(vm)
                migration_map.append((vm, host))
            elif all_or_nothing:
                for planned_vm, planned_host in migration_map:
                    planned_host.vm_destroy(planned_vm)
                migration_map = []
                break
        return migration_map

    def get_vms_to_migrate_from_hosts(self, over):
        """getVmsToMigrateFromHosts: select and remove until the host is no longer overloaded."""
        vms = []
        for host in over:
            while True:
                vm = self.vm_to_migrate(host)
                if vm is None:
                    break
                vms.append(vm)
                host.vm_destroy(vm)
                if not self.is_host_over_utilized(host):
                    break
        return vms

    def _all_vms_migrating_out_or_any_vm_migrating_in(self, host):
        """areAllVmsMigratingOutOrAnyVmMigratingIn."""
        for vm in host.vm_list:
            if not vm.in_migration:
                return False
            if vm in host.vms_migrating_in:
                return True
        return True

    def get_under_utilized_host(self, excluded):
        """getUnderUtilizedHost: the least utilised (at its last update) non-excluded host."""
        min_utilization = 1
        chosen = None
        for host in self.hosts:
            if host in excluded:
                continue
            utilization = host.utilization_of_cpu()
            if (0 < utilization < min_utilization
                    and not self._all_vms_migrating_out_or_any_vm_migrating_in(host)):
                min_utilization = utilization
                chosen = host
        return chosen

    def get_migration_map_from_under_utilized_hosts(self, over, overload_map):
        """getMigrationMapFromUnderUtilizedHosts, as coded: the exclusions start from a fresh
        empty map (vmsched: from the overload phase's targets)."""
        migration_map = []
        switched_off = [host for host in self.hosts if host.utilization_of_cpu() == 0]
        excluded_under = set(over) | set(switched_off)
        if not self.cloudsim:
            excluded_under |= {host for _, host in overload_map}
        excluded_placement = set(over) | set(switched_off)
        while True:
            if len(self.hosts) == len(excluded_under):
                break
            host = self.get_under_utilized_host(excluded_under)
            if host is None:
                break
            excluded_under.add(host)
            excluded_placement.add(host)
            vms = [vm for vm in host.vm_list if not vm.in_migration]
            if not vms:
                continue
            placement = self.get_new_vm_placement(vms, excluded_placement, all_or_nothing=True)
            excluded_under |= {target for _, target in placement}
            migration_map.extend(placement)
        return migration_map

    def save_allocation(self):
        """saveAllocation: (host, vm) for every VM not migrating in."""
        self.saved = []
        for host in self.hosts:
            for vm in host.vm_list:
                if vm in host.vms_migrating_in:
                    continue
                self.saved.append((host, vm))

    def restore_allocation(self):
        """restoreAllocation."""
        for host in self.hosts:
            host.vm_destroy_all()
            host.reallocate_migrating_in_vms()
        for host, vm in self.saved:
            if not host.vm_create(vm):
                raise RuntimeError(f"couldn't restore VM {vm.id} on host {host.id} "
                                   f"(CloudSim exits)")
            self.vm_table[vm] = host

    def optimize_allocation(self, now):
        """optimizeAllocation: overloaded hosts, VMs selected off them and placed, then the
        under-utilised hosts emptied; the plan is undone and returned as [(vm, target)]."""
        self.now = now
        over = [host for host in self.hosts if self.is_host_over_utilized(host)]
        self.save_allocation()
        vms = self.get_vms_to_migrate_from_hosts(over)
        migration_map = self.get_new_vm_placement(vms, set(over))
        migration_map = migration_map + self.get_migration_map_from_under_utilized_hosts(
            over, migration_map)
        self.restore_allocation()
        return migration_map


# --- the datacenter -----------------------------------------------------------------------------

class Datacenter:
    """PowerDatacenter (and PowerDatacenterNonPowerAware for npa) with the event loop of
    CloudSim for its VM_DATACENTER_EVENT and VM_MIGRATE events."""

    def __init__(self, hosts, vms, policy, interval, end, rules):
        self.hosts = hosts
        self.vms = vms
        self.policy = policy
        self.interval = interval
        self.end = end
        self.rules = rules
        self.cloudsim = rules == "cloudsim"
        self.anomalies = [0]
        self.allocation = AllocationPolicy(hosts, policy, interval, rules, self.anomalies)
        self.power = 0.0                 # joules
        self.migration_count = 0
        self.last_process_time = 0.0
        self.vms_destroyed = 0
        self.events = []                 # [time, sequence, kind, data]
        self.sequence = 0
        self.created = []
        self.waiting = []                # vmsched: VMs that fit nowhere yet, in arrival order
        self.counts = {"finished": 0, "not placed": 0, "delayed": 0, "delay_s": 0.0,
                       "migrations dropped": 0}
        self.started = False             # vmsched: the update at t = 0 runs although no time passed

    def schedule(self, time, kind, data=None):
        self.events.append([time, self.sequence, kind, data])
        self.sequence += 1

    def create_vms(self):
        """Datacenter.processVmCreate for every VM in id order at time 0."""
        for vm in self.vms:
            vm.being_instantiated = True
            if self.allocation.allocate_host_for_vm(vm):
                self.created.append(vm)
            else:
                self.counts["not placed"] += 1
            vm.being_instantiated = False

    def arrivals_and_departures(self, now):
        """vmsched: the VMs whose end has come (before the run's end) leave, then the VMs
        waiting for a host and the new arrivals (by start, then id) are created; one that
        fits nowhere waits for the next update."""
        for vm in self.vms:
            if not (vm.end_s <= now and vm.end_s < self.end):
                continue
            if vm.status == "running":
                migrating = vm.in_migration
                if migrating:
                    for event in self.events:
                        if event[2] == "migrate" and event[3][0] is vm:
                            self.events.remove(event)
                            event[3][1].remove_migrating_in_vm(vm)
                            self.counts["migrations dropped"] += 1
                            break
                self.allocation.deallocate_host_for_vm(vm)
                vm.add_state_history_entry(now, 0.0, 0.0, migrating)
                vm.in_migration = False
                vm.status = "finished"
                self.counts["finished"] += 1
            elif vm.status == "waiting":
                vm.status = "not placed"
                self.waiting.remove(vm)
                self.counts["not placed"] += 1
            elif vm.status == "not arrived":
                vm.status = "finished"           # came and went between two updates
                self.counts["finished"] += 1
        arriving = sorted((vm for vm in self.vms
                           if vm.status == "not arrived" and vm.start_s <= now),
                          key=lambda vm: (vm.start_s, vm.id))
        for vm in arriving:
            vm.first_try = now
        trying = self.waiting + arriving
        self.waiting = []
        for vm in trying:
            vm.being_instantiated = True
            if self.allocation.allocate_host_for_vm(vm):
                vm.status = "running"
                self.created.append(vm)
                if vm.first_try < now:
                    self.counts["delayed"] += 1
                    self.counts["delay_s"] += now - vm.first_try
            else:
                vm.status = "waiting"
                self.waiting.append(vm)
            vm.being_instantiated = False

    def update_force(self, now):
        """updateCloudetProcessingWithoutSchedulingFutureEventsForce: update every host, bill
        the energy since the last update, destroy VMs requesting 0 MIPS (cloudsim rules)."""
        time_diff = now - self.last_process_time
        min_time = MAX_VALUE
        for host in self.hosts:
            time = host.update_vms_processing(now)
            if time < min_time:
                min_time = time
        if time_diff > 0:
            frame = 0.0
            for host in self.hosts:
                frame += host.energy_linear_interpolation(
                    host.previous_utilization_of_cpu(), host.utilization_of_cpu(), time_diff,
                    self.anomalies, self.cloudsim)
            self.power = self.power + frame
        else:
            self.power = self.power + 0.0
        if self.cloudsim:
            for host in self.hosts:
                for vm in host.completed_vms():
                    self.allocation.deallocate_host_for_vm(vm)
                    self.vms_destroyed += 1
        self.last_process_time = now
        return min_time

    def update_non_power_aware(self, now):
        """PowerDatacenterNonPowerAware.updateCloudletProcessing: every host at full power."""
        if not (now > self.last_process_time or not self.started):
            return
        self.started = True
        if not self.cloudsim:
            self.arrivals_and_departures(now)
        time_diff = now - self.last_process_time
        frame = 0.0
        for host in self.hosts:
            frame += host.power(1.0) * time_diff
        min_time = MAX_VALUE
        for host in self.hosts:
            time = host.update_vms_processing(now)
            if time < min_time:
                min_time = time
        self.power = self.power + frame
        if self.cloudsim:
            for host in self.hosts:
                for vm in host.completed_vms():
                    self.allocation.deallocate_host_for_vm(vm)
                    self.vms_destroyed += 1
        if min_time != MAX_VALUE or not self.cloudsim:
            self.schedule(now + self.interval, "periodic")
        self.last_process_time = now

    def update_periodic(self, now):
        """PowerDatacenter.updateCloudletProcessing: update, then (migration policies) run a
        consolidation round and start its migrations."""
        if not (now > self.last_process_time or not self.started):
            return
        self.started = True
        if not self.cloudsim:
            self.arrivals_and_departures(now)
        min_time = self.update_force(now)
        if self.policy.kind == "migrate":
            for vm, target in self.allocation.optimize_allocation(now):
                target.add_migrating_in_vm(vm, now, self)
                self.migration_count += 1
                delay = vm.ram / (target.bw / (2 * 8000))
                self.schedule(now + delay, "migrate", (vm, target))
        if min_time != MAX_VALUE or not self.cloudsim:
            self.schedule(now + self.interval, "periodic")
        self.last_process_time = now

    def process_vm_migrate(self, now, vm, target):
        """PowerDatacenter.processVmMigrate + Datacenter.processVmMigrate."""
        if now > self.last_process_time:
            self.update_force(now)
        self.allocation.deallocate_host_for_vm(vm)
        target.remove_migrating_in_vm(vm)
        if not self.allocation.allocate_host_for_vm(vm, target):
            raise RuntimeError(f"VM {vm.id} could not be created on host {target.id} at the end "
                               f"of its migration (CloudSim exits)")
        vm.in_migration = False

    def run(self):
        """CloudSim's event loop until the end (events at equal times in scheduling order)."""
        if self.cloudsim:
            self.create_vms()
        first = (0.1 + self.interval) if self.cloudsim else 0.0
        self.schedule(first, "periodic")
        last_update = 0.0
        while self.events:
            self.events.sort(key=lambda e: (e[0], e[1]))
            now, _, kind, data = self.events.pop(0)
            if now > self.end:
                break
            if kind == "periodic":
                if self.policy.kind == "npa":
                    self.update_non_power_aware(now)
                else:
                    self.update_periodic(now)
                last_update = max(last_update, self.last_process_time)
            else:
                vm, target = data
                self.process_vm_migrate(now, vm, target)
                pending = [e for e in self.events if e[2] == "migrate"]
                if not pending or min(e[0] for e in pending) > now:
                    self.update_force(now)
                last_update = self.last_process_time
        if not self.cloudsim and self.last_process_time < self.end:
            self.update_force(self.end)
            last_update = self.end
        for vm in self.waiting:
            vm.status = "not placed"
            self.counts["not placed"] += 1
        return last_update


# --- Helper.printResults' metrics -----------------------------------------------------------

def sla_time_per_active_host(hosts):
    """Helper.getSlaTimePerActiveHost's sums: (violation s, active s)."""
    violation = 0.0
    total = 0.0
    for host in hosts:
        previous_time = -1
        previous_allocated = 0.0
        previous_requested = 0.0
        previous_active = True
        for time, allocated, requested, active in host.state_history:
            if previous_time != -1 and previous_active:
                diff = time - previous_time
                total += diff
                if previous_allocated < previous_requested:
                    violation += diff
            previous_allocated = allocated
            previous_requested = requested
            previous_time = time
            previous_active = active
    return violation, total


def sla_metrics(vms):
    """Helper.getSlaMetrics' sums: (requested, allocated, under-allocated in migration),
    MIPS * s."""
    total_allocated = 0.0
    total_requested = 0.0
    total_migration = 0.0
    for vm in vms:
        vm_allocated = 0.0
        vm_requested = 0.0
        vm_migration = 0.0
        previous_time = -1
        previous_allocated = 0.0
        previous_requested = 0.0
        previous_migration = False
        for time, allocated, requested, in_migration in vm.state_history:
            if previous_time != -1:
                diff = time - previous_time
                vm_allocated += previous_allocated * diff
                vm_requested += previous_requested * diff
                if previous_allocated < previous_requested and previous_migration:
                    vm_migration += (previous_requested - previous_allocated) * diff
            previous_allocated = allocated
            previous_requested = requested
            previous_time = time
            previous_migration = in_migration
        total_allocated += vm_allocated
        total_requested += vm_requested
        total_migration += vm_migration
    return total_requested, total_allocated, total_migration


def times_before_host_shutdown(hosts):
    """Helper.getTimesBeforeHostShutdown."""
    times = []
    for host in hosts:
        previous_active = True
        last_on = 0.0
        for time, _, _, active in host.state_history:
            if previous_active and not active:
                times.append(time - last_on)
            if not previous_active and active:
                last_on = time
            previous_active = active
    return times


def reference_consolidation(samples, hosts, vms, policy, rules="cloudsim", interval_s=300.0):
    """Run CloudSim 3.0.3's dynamic consolidation (RunnerAbstract + PowerDatacenter) on a small
    instance; returns Helper.printResults' quantities.

    samples: float64 [n_vms, n_samples + 1]: VM utilisation fractions at 0, 300, 600, ... s
    (the last column repeats the one before, as CloudSim's UtilizationModelPlanetLabInMemory).
    hosts: list of dicts {"pcpus": int, "speed": MIPS per pCPU (float), "ram": MiB (float),
    "bw": kbit/s (float), "power_kind": int, "power_watts": np.ndarray float64[11]}.
    vms: list of dicts {"mips": float (its vCPUs together), "ram": MiB float, "bw": kbit/s
    float}, and optionally "vcpus" (1), "start_s" (0) and "end_s" (inf; vmsched's rules).
    policy: an object with .kind in {"npa","dvfs","migrate"}, .detector in
    {"thr","iqr","mad","lr","lrr"}, .selector in {"mmt","mu"}, .parameter (float).
    rules: "cloudsim" (CloudSim 3.0.3) or "vmsched" (its quirks dropped).
    Returns a dict of floats: energy_j, migrations, sla_time_s, active_time_s,
    requested_mips_s, allocated_mips_s, migration_loss_mips_s, shutdowns, shutdown_time_s,
    vms_destroyed, end_s (time of the last datacenter update), anomalies (where CloudSim
    would have exited), vms_finished, vms_not_placed, vms_delayed (placed at a later update
    than their first), delay_s (their waits summed) and migrations_dropped (VMs that left while
    migrating)."""
    if rules not in ("cloudsim", "vmsched"):
        raise ValueError(f"rules {rules!r}: 'cloudsim' or 'vmsched'")
    samples = np.asarray(samples, np.float64)
    n_samples = samples.shape[1] - 1
    end = n_samples * interval_s
    host_objects = [Host(h, spec, (int(spec["power_kind"]),
                                   np.asarray(spec["power_watts"], np.float64)))
                    for h, spec in enumerate(hosts)]
    vm_objects = [Vm(v, spec["mips"], spec["ram"], spec["bw"], [float(x) for x in samples[v]],
                     interval_s, rules, spec.get("vcpus", 1), spec.get("start_s", 0.0),
                     spec.get("end_s", math.inf))
                  for v, spec in enumerate(vms)]
    datacenter = Datacenter(host_objects, vm_objects, policy, interval_s, end, rules)
    last = datacenter.run()
    violation, active = sla_time_per_active_host(host_objects)
    requested, allocated, migration = sla_metrics(datacenter.created)
    shutdowns = times_before_host_shutdown(host_objects)
    shutdown_time = 0.0
    for value in shutdowns:
        shutdown_time += value
    return {
        "energy_j": datacenter.power,
        "migrations": float(datacenter.migration_count),
        "sla_time_s": violation,
        "active_time_s": active,
        "requested_mips_s": requested,
        "allocated_mips_s": allocated,
        "migration_loss_mips_s": migration,
        "shutdowns": float(len(shutdowns)),
        "shutdown_time_s": shutdown_time,
        "vms_destroyed": float(datacenter.vms_destroyed),
        "end_s": last,
        "anomalies": float(datacenter.anomalies[0]),
        "vms_finished": float(datacenter.counts["finished"]),
        "vms_not_placed": float(datacenter.counts["not placed"]),
        "vms_delayed": float(datacenter.counts["delayed"]),
        "delay_s": datacenter.counts["delay_s"],
        "migrations_dropped": float(datacenter.counts["migrations dropped"]),
    }


__all__ = ["reference_consolidation"]
