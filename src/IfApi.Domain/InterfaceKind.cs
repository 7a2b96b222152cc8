namespace IfApi.Domain;

/// <summary>The driver behind an interface (the cloner's kind; <c>ether</c> for static interfaces).</summary>
public enum InterfaceKind
{
    Loop,
    Tap,
    Bridge,
    Epair,
    Vlan,
    Ether,
}

/// <summary>What each driver sets up at attach time, as the kernel's drivers do.</summary>
public static class Kinds
{
    public const IfFlags EthernetFlags = IfFlags.Broadcast | IfFlags.Simplex | IfFlags.Multicast;

    public static string WireName(this InterfaceKind kind) => kind switch
    {
        InterfaceKind.Loop => "loop",
        InterfaceKind.Tap => "tap",
        InterfaceKind.Bridge => "bridge",
        InterfaceKind.Epair => "epair",
        InterfaceKind.Vlan => "vlan",
        InterfaceKind.Ether => "ether",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>Kinds a cloner can be attached for (static <c>ether</c> interfaces are not cloned).</summary>
    public static bool TryParseCloneable(string? text, out InterfaceKind kind)
    {
        kind = text switch
        {
            "loop" => InterfaceKind.Loop,
            "tap" => InterfaceKind.Tap,
            "bridge" => InterfaceKind.Bridge,
            "epair" => InterfaceKind.Epair,
            "vlan" => InterfaceKind.Vlan,
            _ => InterfaceKind.Ether,
        };
        return kind != InterfaceKind.Ether;
    }

    public static InterfaceKind Parse(string text) => text == "ether"
        ? InterfaceKind.Ether
        : TryParseCloneable(text, out var k) ? k : throw new ArgumentOutOfRangeException(nameof(text), text, "unknown kind");

    /// <summary>lo(4) runs with a 16 KiB MTU; everything Ethernet-like with ETHERMTU.</summary>
    public static int DefaultMtu(this InterfaceKind kind) => kind == InterfaceKind.Loop ? 16384 : 1500;

    public static IfFlags DefaultFlags(this InterfaceKind kind) =>
        kind == InterfaceKind.Loop ? IfFlags.Loopback | IfFlags.Multicast : EthernetFlags;

    /// <summary>Interfaces that carry Ethernet frames: bridge members and vlan parents.</summary>
    public static bool IsEthernet(this InterfaceKind kind) => kind != InterfaceKind.Loop;

    /// <summary>The address a fresh interface of this kind gets; lo has none, an unconfigured vlan all zeros.</summary>
    public static string? NewLladdr(this InterfaceKind kind, char epairEnd = 'a') => kind switch
    {
        InterfaceKind.Loop => null,
        InterfaceKind.Tap => Lladdr.NewTap(),
        InterfaceKind.Epair => Lladdr.NewEpair(epairEnd),
        InterfaceKind.Vlan => "00:00:00:00:00:00",
        _ => Lladdr.NewLocal(),
    };
}
