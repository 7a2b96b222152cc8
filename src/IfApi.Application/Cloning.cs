using System.Globalization;
using IfApi.Domain;
using IfApi.Store;

namespace IfApi.Application;

/// <summary>A clone as made, before the commit: everything its answer shows is in memory.</summary>
internal sealed record Clone(InterfaceRow Row, string? Peer = null, string? Parent = null)
{
    public InterfaceInfo Info() =>
        Views.ToInfo(new InterfaceView { Row = Row, Groups = Row.Groups.ConvertAll(g => g.Group), Peer = Peer, Parent = Parent });
}

/// <summary>
/// <c>if_clone_createif</c> and what it calls: the cloner's unit, the interface index, the row (both
/// ends for epair) with its groups, and the arrival. Shared by a create, a cloner's attach (its
/// minIfs units) and the first start.
/// </summary>
internal static class Cloning
{
    /// <summary>
    /// SIOCIFCREATE2 for a name that matched the cloner with a unit (<c>tap</c>, <c>tap7</c>, <c>epair</c>).
    /// </summary>
    /// <param name="clonerSeq">The cloner as matched: if it has been detached and attached anew since,
    /// the allocation notices and the transaction runs again.</param>
    /// <param name="poolsMadeHere">The cloner's pool (and with <paramref name="indexesMadeHere"/> the
    /// index pool) were made by this transaction: an attach's minIfs, the first start.</param>
    public static async Task<Clone> CreateUnitAsync(StoreSession s, UnitMatch m, CreateParams? p, CancellationToken ct,
        string ioctl = Ioctl.IfCreate, long? clonerSeq = null, bool poolsMadeHere = false, bool indexesMadeHere = false)
    {
        var cloner = m.Cloner;
        if (!IfNames.TryParseUnit(m.UnitText, out var requested, out var err))
            throw new IfError(err, $"bad unit number in '{cloner.Name}{m.UnitText}'", ioctl);

        var (lladdr, vlan, parent) = await CheckParamsAsync(s, cloner.Kind, p, ct);

        int? index = null; // claimed with the first probe, where the store can do both in one round trip
        var unit = await UnitAllocator.AllocateAsync(s.Units(cloner.Name, poolsMadeHere), requested, cloner.MaxUnit,
            async (u, ct) =>
            {
                var (held, claimed) = await s.ProbeCreateAsync(cloner.Name, clonerSeq, cloner.NamesHeldByUnit(u),
                    claimIndex: index is null && !indexesMadeHere, ct);
                index ??= claimed;
                return held;
            }, ct, ioctl);

        var names = cloner.InterfaceNames(unit);
        var first = NewRow(names[0], cloner.Kind, cloner.Name, unit, index ?? await AllocIndexAsync(s, ct, indexesMadeHere),
            lladdr ?? (parent?.Lladdr) ?? cloner.Kind.NewLladdr('a'));
        AddGroups(first, cloner);
        if (vlan is int tag && parent is not null)
            (first.VlanTag, first.ParentId) = (tag, parent.Id);
        s.Add(first);
        Announce.Arrival(s, first);
        if (cloner.Kind == InterfaceKind.Epair)
        {
            var second = NewRow(names[1], cloner.Kind, cloner.Name, unit, await AllocIndexAsync(s, ct, indexesMadeHere), cloner.Kind.NewLladdr('b'));
            AddGroups(second, cloner);
            (first.PeerId, second.PeerId) = (second.Id, first.Id);
            s.Add(second);
            Announce.Arrival(s, second);
            return new Clone(first, Peer: second.Name);
        }
        return new Clone(first, Parent: parent?.Name);
    }

    /// <summary>A dotted vlan (<c>tap0.100</c>) has no unit of its cloner's, as in <c>vlan_clone_create</c>.</summary>
    public static async Task<Clone> CreateDottedVlanAsync(StoreSession s, VlanDotMatch m, string name, CreateParams? p, CancellationToken ct)
    {
        if (m.Tag is not int tag)
            throw new IfError(Errno.EINVAL, $"vlan tag must be between {ClonerMatcher.MinVlanTag} and {ClonerMatcher.MaxVlanTag}", Ioctl.IfCreate);
        if (p is { Vlan: not null } or { Parent: not null } or { Lladdr: not null })
            throw new IfError(Errno.EINVAL, $"'{name}' names its parent and tag; params are for plain vlan names", Ioctl.IfCreate);
        var parent = await ParentAsync(s, m.Parent, ct);
        // It takes no unit, but it is one of the cloner's clones: its foreign key holds the cloner
        // against a detach.
        var row = NewRow(name, InterfaceKind.Vlan, m.Cloner.Name, unit: null, await AllocIndexAsync(s, ct), parent.Lladdr);
        (row.VlanTag, row.ParentId) = (tag, parent.Id);
        AddGroups(row, m.Cloner);
        s.Add(row);
        Announce.Arrival(s, row);
        return new Clone(row, Parent: parent.Name);
    }

    /// <summary>An interface no cloner made (<c>Interfaces:Static</c>): in <c>all</c> only.</summary>
    public static async Task<InterfaceRow> AttachStaticAsync(StoreSession s, string name, bool indexesMadeHere, CancellationToken ct)
    {
        var row = NewRow(name, InterfaceKind.Ether, cloner: null, unit: null, await AllocIndexAsync(s, ct, indexesMadeHere), InterfaceKind.Ether.NewLladdr());
        row.Groups.Add(new GroupMemberRow { Group = GroupNames.All });
        s.Add(row);
        Announce.Arrival(s, row);
        return row;
    }

    /// <summary>A cloner's minIfs units, as <c>if_clone_simple</c> makes them on attach.</summary>
    public static async Task CreateMinIfsAsync(StoreSession s, ClonerSpec spec, bool indexesMadeHere, CancellationToken ct)
    {
        for (var unit = 0; unit < spec.MinIfs; unit++)
        {
            await CreateUnitAsync(s, new UnitMatch(spec, unit.ToString(CultureInfo.InvariantCulture)), null, ct, Ioctl.CloneAttach,
                poolsMadeHere: true, indexesMadeHere: indexesMadeHere);
            if (unit % 256 == 255)
            {
                // Thousands of minIfs units: write them in slices and forget them, so the change
                // tracker, which every look-up consults, stays small.
                await s.SaveAsync(ct);
                s.Forget();
            }
        }
        await s.SaveAsync(ct);
    }

    private static async Task<(string? Lladdr, int? Vlan, InterfaceRow? Parent)> CheckParamsAsync(
        StoreSession s, InterfaceKind kind, CreateParams? p, CancellationToken ct)
    {
        if (p is null)
            return (null, null, null);
        var lladdr = CheckLladdr(kind, p);
        if (p.Vlan is null && p.Parent is null)
            return (lladdr, null, null);
        if (kind != InterfaceKind.Vlan)
            throw new IfError(Errno.EOPNOTSUPP, $"params.vlan and params.parent are for vlan interfaces, not {kind.WireName()}", Ioctl.IfCreate);
        if (p.Vlan is not int tag || p.Parent is null)
            throw new IfError(Errno.EINVAL, "params.vlan and params.parent go together", Ioctl.IfCreate);
        if (tag is < ClonerMatcher.MinVlanTag or > ClonerMatcher.MaxVlanTag)
            throw new IfError(Errno.EINVAL, $"vlan tag must be between {ClonerMatcher.MinVlanTag} and {ClonerMatcher.MaxVlanTag}", Ioctl.IfCreate);
        return (lladdr, tag, await ParentAsync(s, p.Parent, ct));
    }

    /// <summary>params.lladdr, canonical; only tap takes one.</summary>
    private static string? CheckLladdr(InterfaceKind kind, CreateParams? p)
    {
        if (p?.Lladdr is null)
            return null;
        if (kind != InterfaceKind.Tap)
            throw new IfError(Errno.EOPNOTSUPP, $"params.lladdr is not supported by {kind.WireName()} interfaces", Ioctl.IfCreate);
        if (!Lladdr.TryParse(p.Lladdr, out var canonical) || !Lladdr.IsUnicast(canonical))
            throw new IfError(Errno.EINVAL, "params.lladdr must be a unicast Ethernet address like f2:0b:a4:00:00:01", Ioctl.IfCreate);
        return canonical;
    }

    /// <summary>vlan_clone_create: the parent must exist (ENXIO) and carry Ethernet frames.</summary>
    private static async Task<InterfaceRow> ParentAsync(StoreSession s, string name, CancellationToken ct)
    {
        var parent = await s.RowByNameAsync(name, ct)
            ?? throw new IfError(Errno.ENXIO, $"no parent interface '{name}'", Ioctl.IfCreate);
        if (!Kinds.Parse(parent.Kind).IsEthernet())
            throw new IfError(Errno.EOPNOTSUPP, $"'{name}' is not an Ethernet interface", Ioctl.IfCreate);
        return parent;
    }

    /// <summary>
    /// <c>ifindex_alloc</c>: the lowest free index of the vnet. Its index pool is as large as its
    /// <c>maxInterfaces</c>, so none left is the quota reached (ENOSPC), exact however many race for it.
    /// </summary>
    internal static async Task<int> AllocIndexAsync(StoreSession s, CancellationToken ct, bool madeHere = false, string ioctl = Ioctl.IfCreate)
    {
        try
        {
            return await UnitAllocator.AllocateAsync(s.Units(Pools.Ifindex, madeHere), null, int.MaxValue,
                static (_, _) => ValueTask.FromResult(false), ct, ioctl);
        }
        catch (IfError e) when (e.Errno == Errno.ENOSPC)
        {
            throw QuotaReached(s.Vnet, ioctl);
        }
    }

    /// <summary>The vnet holds as many interfaces as its maxInterfaces allows.</summary>
    internal static IfError QuotaReached(string vnet, string ioctl) =>
        new(Errno.ENOSPC, $"vnet '{vnet}' holds as many interfaces as its maxInterfaces allows", ioctl);

    private static InterfaceRow NewRow(string name, InterfaceKind kind, string? cloner, int? unit, int index, string? lladdr) => new()
    {
        Id = Guid.CreateVersion7(),
        Index = index,
        Name = name,
        Kind = kind.WireName(),
        Cloner = cloner,
        Unit = unit,
        Flags = (int)kind.DefaultFlags(),
        Mtu = kind.DefaultMtu(),
        Lladdr = lladdr,
        CreatedAt = DateTimeOffset.UtcNow,
        Version = 1,
    };

    /// <summary>if_attach puts every interface in <c>all</c>; if_clone_addif adds the cloner's group unless IFC_NOGROUP.</summary>
    private static void AddGroups(InterfaceRow row, ClonerSpec cloner)
    {
        row.Groups.Add(new GroupMemberRow { InterfaceId = row.Id, Group = GroupNames.All });
        // A cloner named "all": if_clone_createif ignores if_addgroup's EEXIST, and so do we.
        if (!cloner.NoGroup && cloner.Name != GroupNames.All)
            row.Groups.Add(new GroupMemberRow { InterfaceId = row.Id, Group = cloner.Name });
    }
}
