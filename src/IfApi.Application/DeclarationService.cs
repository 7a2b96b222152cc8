using System.Globalization;
using IfApi.Domain;
using IfApi.Store;

namespace IfApi.Application;

/// <summary>
/// Interfaces declared whole: a create with every setting (<c>ifconfig tap create mtu 9000 group lan
/// up</c>) and the upsert by name. Each runs the use cases a shell would run for it, create, patch
/// and group joins, in one transaction, so each rule and each event is the one those use cases have.
/// </summary>
public sealed class DeclarationService(TransactionRunner tx, InterfaceService interfaces, GroupService groups, ClonerService cloners)
{
    /// <summary>
    /// SIOCIFCREATE2 followed by what else is declared. What was declared reads back unchanged. With
    /// an <c>Idempotency-Key</c>, a retry gets the first answer (<c>Replayed</c>) and changes nothing.
    /// </summary>
    public async Task<(InterfaceInfo Interface, bool Replayed)> CreateAsync(Declaration d, CreateParams? p, IdempotencyKey? key, string? actor,
        CancellationToken ct)
    {
        d.Validate();
        CheckLladdrs(d, p);
        var (create, rename) = d.Names();
        var then = d.AfterCreate(rename);
        if (then.IsEmpty && d.Groups.Count == 0)
            return await interfaces.CreateAsync(create, p, key, actor, ct); // one transaction of its own: the fast path
        return await tx.BatchAsync(actor, dryRun: false, async ct =>
        {
            if (key is not null && await interfaces.ReplayAsync(key, ct) is { } earlier)
                return (earlier, true);
            var (info, _) = await interfaces.CreateAsync(create, p, null, actor, ct);
            info = await SettleAsync(info, then, d.GroupsWanted(null), leaveOthers: false, actor, ct);
            if (key is not null)
                await interfaces.RememberAsync(key, info, ct);
            return (info, false);
        }, ct);
    }

    /// <summary>
    /// PUT by name: creates exactly <paramref name="name"/> when no interface has it (Created), otherwise
    /// makes the interface what is declared: declared attributes set, the others back at their
    /// defaults, its groups <c>all</c>, its cloner's and those declared. <paramref name="mustExist"/>
    /// (an <c>If-Match</c>, whose versions are <paramref name="ifMatch"/>, null for any) refuses a
    /// create and guards a replace; <paramref name="createOnly"/> (<c>If-None-Match: *</c>) refuses a replace.
    /// </summary>
    public Task<(InterfaceInfo Interface, bool Created)> PutAsync(string name, Declaration d, CreateParams? p, bool mustExist,
        IReadOnlySet<long>? ifMatch, bool createOnly, string? actor, CancellationToken ct)
    {
        IfNames.Validate(name, Ioctl.IfCreate);
        if (d.Name is not null && d.Name != name)
            throw new IfError(Errno.EINVAL, $"the body names '{d.Name}' but the path '{name}'", Ioctl.IfCreate);
        d = d with { Name = name };
        d.Validate();
        CheckLladdrs(d, p);
        if (d.Lladdr is null && p?.Lladdr is { } asParam)
            d = d with { Lladdr = asParam }; // on a replace, the address declared as a create parameter is declared all the same
        return tx.BatchAsync(actor, dryRun: false, async ct =>
        {
            await interfaces.LockNameAsync(name, ct); // two upserts of one new name: the second replaces what the first made
            if (await interfaces.FindAsync(name, ct) is not { } existing)
            {
                if (mustExist)
                    throw new IfError(Errno.ESTALE, $"no interface '{name}' for If-Match to match; nothing was created", Ioctl.IfCreate);
                var (create, rename) = d.Names();
                InterfaceInfo made;
                try
                {
                    (made, _) = await interfaces.CreateAsync(create, p, null, actor, ct);
                }
                catch (IfError e) when (e.Errno == Errno.EEXIST)
                {
                    // Another request created the name since it was looked up: run again, and replace it.
                    if (await interfaces.FindAsync(name, ct) is not null)
                        throw new RaceLostException($"'{name}' was created meanwhile");
                    throw;
                }
                made = await SettleAsync(made, d.AfterCreate(rename), d.GroupsWanted(null), leaveOthers: false, actor, ct);
                if (made.Name != name) // "tap" is a wildcard: the create made tap0
                    throw new IfError(Errno.EINVAL, $"creating '{name}' makes '{made.Name}'; name a unit ('{name}0') or declare a cloner", Ioctl.IfCreate);
                return (made, true);
            }
            if (createOnly)
                throw new IfError(Errno.ESTALE, $"'{name}' exists and If-None-Match: * asks for a create only; nothing was changed", Ioctl.IfCreate);
            Views.CheckVersion(existing.Name, existing.Version, ifMatch);
            CheckUnchangeable(existing, d, p);
            var clonerGroup = existing.Cloner is { } c && !(await cloners.GetAsync(c, ct)).NoGroup ? c : null;
            // The patch checks If-Match again on the row it locks: a change committed since the read
            // above is caught there, never overwritten.
            var info = await SettleAsync(existing, d.Replace(existing.Kind), d.GroupsWanted(clonerGroup), leaveOthers: true, actor, ct, ifMatch);
            if (info.Name != name) // renamed since it was found: at this point no interface has the name
                throw new RaceLostException($"'{name}' was renamed meanwhile");
            return (info, false);
        }, ct);
    }

    /// <summary>What the kernel fixes at create: who made it, its unit, a vlan's tag and parent.</summary>
    private static void CheckUnchangeable(InterfaceInfo existing, Declaration d, CreateParams? p)
    {
        if (d.Cloner is not null && d.Cloner != existing.Cloner)
            throw new IfError(Errno.EEXIST, $"'{existing.Name}' exists, made by {existing.Cloner ?? "no cloner"}, not {d.Cloner}", Ioctl.IfCreate);
        if (d.Unit is not null && d.Unit != existing.Unit)
            throw new IfError(Errno.EEXIST, $"'{existing.Name}' exists with unit {existing.Unit?.ToString(CultureInfo.InvariantCulture) ?? "none"}", Ioctl.IfCreate);
        if (p is { Vlan: not null } && p.Vlan != existing.VlanTag || p is { Parent: not null } && p.Parent != existing.Parent)
            throw new IfError(Errno.EEXIST, $"'{existing.Name}' exists with vlan {existing.VlanTag} on {existing.Parent}; a vlan's tag and parent are set at create", Ioctl.IfCreate);
    }

    /// <summary>An address declared twice, as a create parameter and as an attribute, must be one address.</summary>
    private static void CheckLladdrs(Declaration d, CreateParams? p)
    {
        if (p?.Lladdr is { } a && d.Lladdr is { } b && !(Lladdr.TryParse(a, out var x) && Lladdr.TryParse(b, out var y) && x == y))
            throw new IfError(Errno.EINVAL, "params.lladdr and lladdr disagree", Ioctl.SetLladdr);
    }

    /// <summary>The patch, then the group joins (and with <paramref name="leaveOthers"/> the leaves) that make its groups <paramref name="wanted"/>.</summary>
    private async Task<InterfaceInfo> SettleAsync(InterfaceInfo info, InterfacePatch patch, IReadOnlySet<string> wanted, bool leaveOthers,
        string? actor, CancellationToken ct, IReadOnlySet<long>? ifMatch = null)
    {
        var id = info.Id.ToString();
        if (!patch.IsEmpty)
            info = await interfaces.PatchAsync(id, patch, ifMatch, actor, ct);
        foreach (var g in wanted.Order(StringComparer.Ordinal))
            if (!info.Groups.Contains(g))
                (_, info) = await groups.JoinAsync(id, g, idempotent: true, null, actor, ct);
        if (leaveOthers)
            foreach (var g in info.Groups.Where(g => !wanted.Contains(g)).ToList())
                info = await groups.LeaveAsync(id, g, null, actor, ct);
        return info;
    }
}
