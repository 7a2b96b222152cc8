using System.Text.Json;
using System.Text.Json.Serialization;

namespace IfApi.Domain;

/// <summary>Event types, after the kernel's announcements.</summary>
public static class EventTypes
{
    public const string Arrival = "interface-arrival";        // IFAN_ARRIVAL
    public const string Departure = "interface-departure";    // IFAN_DEPARTURE
    public const string Rename = "interface-rename";          // if_rename's departure + arrival, as one
    public const string Change = "interface-change";          // RTM_IFINFO: attributes
    public const string LinkUp = "link-up";                    // RTM_IFINFO with IFF_UP set
    public const string LinkDown = "link-down";
    public const string GroupAttach = "group-attach";          // group_attach_event
    public const string GroupDetach = "group-detach";          // group_detach_event
    public const string GroupChange = "group-change";          // group_change_event: a member joined or left
    public const string ClonerAttach = "cloner-attach";
    public const string ClonerDetach = "cloner-detach";

    /// <summary>Every type, in the order the kernel's announcements are listed above.</summary>
    public static IReadOnlyList<string> All { get; } =
        [Arrival, Departure, Rename, Change, LinkUp, LinkDown, GroupAttach, GroupDetach, GroupChange, ClonerAttach, ClonerDetach];
}

/// <summary>
/// One announcement of the routing socket (<c>rt_ifannouncemsg</c>, <c>rt_ifmsg</c>, the group and
/// cloner event handlers): one record per kind, whose properties are the event's data. Written by
/// the transaction that made the change.
/// </summary>
public abstract record Announcement
{
    /// <summary>The event type (<see cref="EventTypes"/>).</summary>
    [JsonIgnore]
    public abstract string Type { get; }

    /// <summary>The interface the event is about, if it is about one.</summary>
    [JsonIgnore]
    public virtual Guid? InterfaceId => null;

    /// <summary>The interface, group or cloner the event is about, by name.</summary>
    [JsonIgnore]
    public abstract string Subject { get; }

    /// <summary>Every kind of announcement, for describing them.</summary>
    public static IReadOnlyList<Type> Kinds { get; } =
    [
        typeof(InterfaceArrival), typeof(InterfaceDeparture), typeof(InterfaceRename), typeof(InterfaceChange), typeof(LinkUp),
        typeof(LinkDown), typeof(GroupAttach), typeof(GroupDetach), typeof(GroupChange), typeof(ClonerAttach), typeof(ClonerDetach),
    ];
}

/// <summary>IFAN_ARRIVAL: an interface was created (<c>if_attach</c>), with the groups it came in.</summary>
public sealed record InterfaceArrival(Guid Id, string Name, int Index, string Kind, string? Cloner, int? Unit, IReadOnlyList<string> Groups)
    : Announcement
{
    public override string Type => EventTypes.Arrival;
    public override Guid? InterfaceId => Id;
    public override string Subject => Name;
}

/// <summary>IFAN_DEPARTURE: an interface was destroyed (<c>if_detach</c>), with the groups it left.</summary>
public sealed record InterfaceDeparture(Guid Id, string Name, int Index, string? Cloner, int? Unit, IReadOnlyList<string> Groups)
    : Announcement
{
    public override string Type => EventTypes.Departure;
    public override Guid? InterfaceId => Id;
    public override string Subject => Name;
}

/// <summary>SIOCSIFNAME: the kernel's departure and arrival under the new name, as one event.</summary>
public sealed record InterfaceRename(Guid Id, string OldName, string Name) : Announcement
{
    public override string Type => EventTypes.Rename;
    public override Guid? InterfaceId => Id;
    public override string Subject => Name;
}

/// <summary>RTM_IFINFO: attributes other than IFF_UP changed; <see cref="Changes"/> has only those.</summary>
public sealed record InterfaceChange(Guid Id, string Name, AttributeChanges Changes) : Announcement
{
    public override string Type => EventTypes.Change;
    public override Guid? InterfaceId => Id;
    public override string Subject => Name;
}

/// <summary>RTM_IFINFO with IFF_UP set: the link came up.</summary>
public sealed record LinkUp(Guid Id, string Name) : Announcement
{
    public override string Type => EventTypes.LinkUp;
    public override Guid? InterfaceId => Id;
    public override string Subject => Name;
}

/// <summary>RTM_IFINFO with IFF_UP cleared: the link went down.</summary>
public sealed record LinkDown(Guid Id, string Name) : Announcement
{
    public override string Type => EventTypes.LinkDown;
    public override Guid? InterfaceId => Id;
    public override string Subject => Name;
}

/// <summary><c>group_attach_event</c>: a group began, with its first member.</summary>
public sealed record GroupAttach(string Group) : Announcement
{
    public override string Type => EventTypes.GroupAttach;
    public override string Subject => Group;
}

/// <summary><c>group_detach_event</c>: a group ended, with its last member.</summary>
public sealed record GroupDetach(string Group) : Announcement
{
    public override string Type => EventTypes.GroupDetach;
    public override string Subject => Group;
}

/// <summary><c>group_change_event</c>: an interface joined (<see cref="Member"/>) or left a group.</summary>
public sealed record GroupChange(string Group, Guid Id, string Name, bool Member) : Announcement
{
    public override string Type => EventTypes.GroupChange;
    public override Guid? InterfaceId => Id;
    public override string Subject => Name;
}

/// <summary><c>if_clone_attach</c>: a cloner was attached.</summary>
public sealed record ClonerAttach(string Cloner, string Kind) : Announcement
{
    public override string Type => EventTypes.ClonerAttach;
    public override string Subject => Cloner;
}

/// <summary><c>if_clone_detach</c>: a cloner was detached, with every interface it made.</summary>
public sealed record ClonerDetach(string Cloner) : Announcement
{
    public override string Type => EventTypes.ClonerDetach;
    public override string Subject => Cloner;
}

/// <summary>
/// The attributes an <see cref="InterfaceChange"/> reports, each present only when it changed
/// (a description cleared is present, as null).
/// </summary>
[JsonConverter(typeof(AttributeChangesConverter))]
public sealed record AttributeChanges
{
    public int? Mtu { get; init; }
    public int? Metric { get; init; }

    /// <summary>The new description; null with <see cref="DescriptionChanged"/> means it was cleared.</summary>
    public string? Description { get; init; }

    [JsonIgnore]
    public bool DescriptionChanged { get; init; }

    public string? Lladdr { get; init; }

    /// <summary>The flags other than <c>up</c>, all of them, when any of them changed.</summary>
    public IReadOnlyList<string>? Flags { get; init; }

    /// <summary>A bridge's members, all of them, when they changed.</summary>
    public IReadOnlyList<string>? Members { get; init; }

    /// <summary>Whether anything is reported.</summary>
    [JsonIgnore]
    public bool Any => Mtu is not null || Metric is not null || DescriptionChanged || Lladdr is not null || Flags is not null || Members is not null;

    /// <summary>What differs between two sets of attributes, <c>up</c> aside (it has events of its own).</summary>
    public static AttributeChanges Between(InterfaceAttributes before, InterfaceAttributes after) => new()
    {
        Mtu = after.Mtu != before.Mtu ? after.Mtu : null,
        Metric = after.Metric != before.Metric ? after.Metric : null,
        Description = after.Description != before.Description ? after.Description : null,
        DescriptionChanged = after.Description != before.Description,
        Lladdr = after.Lladdr != before.Lladdr ? after.Lladdr : null,
        Flags = (after.Flags & ~IfFlags.Up) != (before.Flags & ~IfFlags.Up) ? IfFlagNames.ToNames(after.Flags) : null,
    };
}

/// <summary>Writes only what changed; reads what a writer wrote.</summary>
internal sealed class AttributeChangesConverter : JsonConverter<AttributeChanges>
{
    public override AttributeChanges Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using var doc = JsonDocument.ParseValue(ref reader);
        var o = doc.RootElement;
        JsonElement e;
        return new AttributeChanges
        {
            Mtu = o.TryGetProperty(Name("mtu", options), out e) ? e.GetInt32() : null,
            Metric = o.TryGetProperty(Name("metric", options), out e) ? e.GetInt32() : null,
            DescriptionChanged = o.TryGetProperty(Name("description", options), out e),
            Description = o.TryGetProperty(Name("description", options), out e) ? e.GetString() : null,
            Lladdr = o.TryGetProperty(Name("lladdr", options), out e) ? e.GetString() : null,
            Flags = o.TryGetProperty(Name("flags", options), out e) ? e.Deserialize<string[]>(options) : null,
            Members = o.TryGetProperty(Name("members", options), out e) ? e.Deserialize<string[]>(options) : null,
        };
    }

    public override void Write(Utf8JsonWriter writer, AttributeChanges value, JsonSerializerOptions options)
    {
        writer.WriteStartObject();
        if (value.Mtu is int mtu)
            writer.WriteNumber(Name("mtu", options), mtu);
        if (value.Metric is int metric)
            writer.WriteNumber(Name("metric", options), metric);
        if (value.DescriptionChanged)
            writer.WriteString(Name("description", options), value.Description);
        if (value.Lladdr is { } lladdr)
            writer.WriteString(Name("lladdr", options), lladdr);
        if (value.Flags is { } flags)
        {
            writer.WritePropertyName(Name("flags", options));
            JsonSerializer.Serialize(writer, flags, options);
        }
        if (value.Members is { } members)
        {
            writer.WritePropertyName(Name("members", options));
            JsonSerializer.Serialize(writer, members, options);
        }
        writer.WriteEndObject();
    }

    private static string Name(string camel, JsonSerializerOptions options) =>
        options.PropertyNamingPolicy?.ConvertName(char.ToUpperInvariant(camel[0]) + camel[1..]) ?? char.ToUpperInvariant(camel[0]) + camel[1..];
}
