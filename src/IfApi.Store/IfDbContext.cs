using Microsoft.EntityFrameworkCore;

namespace IfApi.Store;

public sealed class IfDbContext(DbContextOptions<IfDbContext> options) : DbContext(options)
{
    public DbSet<VnetRow> Vnets => Set<VnetRow>();
    public DbSet<ClonerRow> Cloners => Set<ClonerRow>();
    public DbSet<InterfaceRow> Interfaces => Set<InterfaceRow>();
    public DbSet<GroupMemberRow> GroupMembers => Set<GroupMemberRow>();
    public DbSet<UnitPoolRow> UnitPools => Set<UnitPoolRow>();
    public DbSet<FreeUnitRow> FreeUnits => Set<FreeUnitRow>();
    public DbSet<MetaRow> Meta => Set<MetaRow>();
    public DbSet<EventRow> Events => Set<EventRow>();
    public DbSet<IdempotencyRow> IdempotencyKeys => Set<IdempotencyRow>();
    public DbSet<TapLeaseRow> TapLeases => Set<TapLeaseRow>();

    /// <summary>Whether the transaction at hand wrote events without EF (set by a session's writes).</summary>
    internal bool Announced { get; set; }

    /// <summary>Whether the transaction at hand was committed with its last writes (PostgreSQL, <see cref="PgWrites"/>).</summary>
    internal bool Committed { get; set; }

    /// <summary>Set by a dry run: the transaction is rolled back instead of committed.</summary>
    internal bool RollBack { get; set; }

    private bool? _postgres;

    /// <summary>
    /// The vnet every query of interfaces, cloners and group memberships is confined to (a global
    /// query filter, as a jail sees its own stack only): the one <see cref="Enter"/> set, else the
    /// request's (<see cref="Curvnet"/>). Reads across vnets say so with <c>IgnoreQueryFilters</c>.
    /// </summary>
    public string Vnet => Entered ?? Curvnet.Name;

    /// <summary>Set while a session works in another vnet than the request's (a move's arrival, a home vnet's unit).</summary>
    internal string? Entered { get; set; }

    /// <summary>
    /// Whether this context talks to PostgreSQL, asked once per pooled context: EF's own answer reads
    /// the provider assembly's name each time, behind a lock, which every create and destroy paid for.
    /// </summary>
    internal bool IsPostgres => _postgres ??= Database.IsNpgsql();

    /// <summary>
    /// The time a new event or vnet is stamped with: PostgreSQL stamps them itself, as the row is
    /// written (one clock for every replica, see the model); SQLite's one process stamps them now.
    /// </summary>
    internal DateTimeOffset StampedNow => IsPostgres ? default : DateTimeOffset.UtcNow;

    protected override void OnModelCreating(ModelBuilder b)
    {
        b.Entity<ClonerRow>(e =>
        {
            e.ToTable("cloners");
            e.HasKey(x => x.Seq);
            e.Property(x => x.Seq).HasColumnName("seq").ValueGeneratedOnAdd();
            e.Property(x => x.Vnet).HasColumnName("vnet").HasMaxLength(16);
            e.Property(x => x.Name).HasColumnName("name").HasMaxLength(16);
            e.HasAlternateKey(x => new { x.Vnet, x.Name });
            e.HasOne<VnetRow>().WithMany().HasForeignKey(x => x.Vnet).OnDelete(DeleteBehavior.Restrict);
            e.HasQueryFilter(x => x.Vnet == Vnet);
            e.Property(x => x.Kind).HasColumnName("kind").HasMaxLength(16);
            e.Property(x => x.MaxUnit).HasColumnName("max_unit");
            e.Property(x => x.NoGroup).HasColumnName("no_group");
            e.Property(x => x.MinIfs).HasColumnName("min_ifs");
            e.Property(x => x.AttachedAt).HasColumnName("attached_at");
        });

        b.Entity<InterfaceRow>(e =>
        {
            e.ToTable("interfaces");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasColumnName("id").ValueGeneratedNever();
            e.Property(x => x.Vnet).HasColumnName("vnet").HasMaxLength(16);
            e.Property(x => x.HomeVnet).HasColumnName("home_vnet").HasMaxLength(16);
            e.HasOne<VnetRow>().WithMany().HasForeignKey(x => x.Vnet).OnDelete(DeleteBehavior.Restrict);
            e.HasQueryFilter(x => x.Vnet == Vnet);
            // Names and indexes are unique per vnet (V_if_index, each stack's ifnet list).
            e.Property(x => x.Index).HasColumnName("if_index");
            e.HasIndex(x => new { x.Vnet, x.Index }).IsUnique();
            e.Property(x => x.Name).HasColumnName("name").HasMaxLength(64);
            e.HasIndex(x => new { x.Vnet, x.Name }).IsUnique();
            e.Property(x => x.Kind).HasColumnName("kind").HasMaxLength(16);
            e.Property(x => x.Cloner).HasColumnName("cloner").HasMaxLength(16);
            // A clone cannot outlive its cloner: detach deletes the clones first, and the key makes a
            // create that raced a detach fail instead of leaving an orphan.
            // Its cloner is its home vnet's, wherever it is now (ifc_find_cloner_in_vnet(if_dname, if_home_vnet)).
            e.HasOne<ClonerRow>().WithMany().HasForeignKey(x => new { x.HomeVnet, x.Cloner }).HasPrincipalKey(c => new { c.Vnet, c.Name })
                .OnDelete(DeleteBehavior.Restrict);
            e.HasIndex(x => new { x.HomeVnet, x.Cloner, x.Unit });
            e.Property(x => x.Unit).HasColumnName("unit");
            e.Property(x => x.Flags).HasColumnName("flags");
            e.Property(x => x.Mtu).HasColumnName("mtu");
            e.Property(x => x.Metric).HasColumnName("metric");
            e.Property(x => x.Description).HasColumnName("description").HasMaxLength(4096);
            e.Property(x => x.Lladdr).HasColumnName("lladdr").HasMaxLength(17);
            e.Property(x => x.CreatedAt).HasColumnName("created_at");
            // A change is written only over the version it read; a concurrent change makes it run again.
            e.Property(x => x.Version).HasColumnName("version").IsConcurrencyToken();
            e.Property(x => x.PeerId).HasColumnName("peer_id");
            e.Property(x => x.ParentId).HasColumnName("parent_id");
            e.Property(x => x.VlanTag).HasColumnName("vlan_tag");
            // vlan_ifdetach: a vlan whose parent goes away stays, unconfigured.
            e.HasOne<InterfaceRow>().WithMany().HasForeignKey(x => x.ParentId).OnDelete(DeleteBehavior.SetNull);
            e.HasIndex(x => x.ParentId);
            // bridge_clone_destroy releases the members; a member destroyed leaves (bridge_ifdetach).
            e.Property(x => x.BridgeId).HasColumnName("bridge_id");
            e.HasOne<InterfaceRow>().WithMany().HasForeignKey(x => x.BridgeId).OnDelete(DeleteBehavior.SetNull);
            e.HasIndex(x => x.BridgeId);
            e.HasMany(x => x.Groups).WithOne().HasForeignKey(g => g.InterfaceId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<GroupMemberRow>(e =>
        {
            e.ToTable("group_members");
            e.HasKey(x => new { x.InterfaceId, x.Group });
            e.Property(x => x.InterfaceId).HasColumnName("interface_id");
            e.Property(x => x.Group).HasColumnName("group_name").HasMaxLength(64);
            e.Property(x => x.Vnet).HasColumnName("vnet").HasMaxLength(16);
            e.HasIndex(x => new { x.Vnet, x.Group, x.InterfaceId });
            e.HasQueryFilter(x => x.Vnet == Vnet);
        });

        b.Entity<UnitPoolRow>(e =>
        {
            e.ToTable("unit_pools");
            e.HasKey(x => x.Pool);
            e.Property(x => x.Pool).HasColumnName("pool").HasMaxLength(48);
            e.Property(x => x.Fresh).HasColumnName("fresh");
            e.Property(x => x.Hi).HasColumnName("hi");
        });

        b.Entity<FreeUnitRow>(e =>
        {
            e.ToTable("free_units");
            // The key is the order a claim scans in: the lowest free unit of a pool is one index seek.
            e.HasKey(x => new { x.Pool, x.Unit });
            e.Property(x => x.Pool).HasColumnName("pool").HasMaxLength(48);
            e.Property(x => x.Unit).HasColumnName("unit");
        });

        b.Entity<EventRow>(e =>
        {
            e.ToTable("events");
            e.HasKey(x => x.Id);
            e.Property(x => x.Id).HasColumnName("id").ValueGeneratedOnAdd();
            e.Property(x => x.Pos).HasColumnName("pos");
            e.HasIndex(x => x.Pos).IsUnique();
            e.Property(x => x.At).HasColumnName("at");
            // PostgreSQL stamps the time itself, as the row is written: one clock for every replica,
            // and as close to the commit as a statement gets.
            if (Database.IsNpgsql())
                e.Property(x => x.At).HasDefaultValueSql("clock_timestamp()");
            e.Property(x => x.Type).HasColumnName("type").HasMaxLength(32);
            // Each vnet has its own routing socket: a stream reads its vnet's events only.
            e.Property(x => x.Vnet).HasColumnName("vnet").HasMaxLength(16);
            e.Property(x => x.InterfaceId).HasColumnName("interface_id");
            e.Property(x => x.Subject).HasColumnName("subject").HasMaxLength(64);
            e.Property(x => x.Data).HasColumnName("data");
            e.Property(x => x.Actor).HasColumnName("actor").HasMaxLength(64);
        });

        b.Entity<TapLeaseRow>(e =>
        {
            e.ToTable("tap_leases");
            e.HasKey(x => x.InterfaceId);
            e.Property(x => x.InterfaceId).HasColumnName("interface_id");
            e.Property(x => x.Holder).HasColumnName("holder").HasMaxLength(64);
            e.Property(x => x.ExpiresAt).HasColumnName("expires_at");
            e.HasIndex(x => x.ExpiresAt);
            // Destroying the interface ends its lease.
            e.HasOne<InterfaceRow>().WithMany().HasForeignKey(x => x.InterfaceId).OnDelete(DeleteBehavior.Cascade);
        });

        b.Entity<IdempotencyRow>(e =>
        {
            e.ToTable("idempotency_keys");
            e.HasKey(x => x.Key);
            e.Property(x => x.Key).HasColumnName("key").HasMaxLength(IdempotencyRow.MaxStoredKeyLength);
            e.Property(x => x.RequestHash).HasColumnName("request_hash").HasMaxLength(64);
            e.Property(x => x.Result).HasColumnName("result");
            e.Property(x => x.ExpiresAt).HasColumnName("expires_at");
            e.HasIndex(x => x.ExpiresAt);
        });

        b.Entity<VnetRow>(e =>
        {
            e.ToTable("vnets");
            e.HasKey(x => x.Name);
            e.Property(x => x.Name).HasColumnName("name").HasMaxLength(16);
            e.Property(x => x.MaxInterfaces).HasColumnName("max_interfaces");
            e.Property(x => x.CreatedAt).HasColumnName("created_at");
            // The same clock as the events': a stream reads its vnet's events from this time on.
            if (Database.IsNpgsql())
                e.Property(x => x.CreatedAt).HasDefaultValueSql("clock_timestamp()");
        });

        b.Entity<MetaRow>(e =>
        {
            e.ToTable("meta");
            e.HasKey(x => x.Key);
            e.Property(x => x.Key).HasColumnName("key").HasMaxLength(64);
            e.Property(x => x.Value).HasColumnName("value");
        });
    }
}
