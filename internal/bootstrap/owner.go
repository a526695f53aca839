package bootstrap

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"

	"github.com/edge-agent/edge-agent/internal/certstore"
)

// ServiceUser is the system user that the edge-agent service runs as
// (User= in packaging/systemd/edge-agent.service).
const ServiceUser = "edge-agent"

// Owner is who [Run] gives the installed files to, so that a service
// running as another user than bootstrap can read them: the identity
// (folder, set, files and links) to UID:GID, the configuration file to
// group GID (its owner stays the writer's, as in root:edge-agent 0640).
type Owner struct {
	UID, GID int
	// Name is USER:GROUP for messages.
	Name string
}

func (o Owner) certstore() certstore.Owner {
	return certstore.Owner{UID: o.UID, GID: o.GID}
}

// ResolveOwner turns the --owner flag into an [Owner]. USER and GROUP are
// names or numeric ids; GROUP defaults to USER's primary group. A name
// that does not exist is an error. An empty spec picks the default: the
// [ServiceUser] when the process runs as root and that user exists, else
// nil (files belong to whoever runs bootstrap). A process that is not
// root can only name itself.
func ResolveOwner(spec string) (*Owner, error) {
	return resolveOwner(spec, os.Geteuid(), ServiceUser)
}

func resolveOwner(spec string, euid int, serviceUser string) (*Owner, error) {
	if spec == "" {
		return defaultOwner(euid, serviceUser)
	}
	o, err := parseOwner(spec)
	if err != nil {
		return nil, err
	}
	if euid != 0 && o.UID != euid {
		return nil, fmt.Errorf("--owner %s: only root can give files to another user; run bootstrap as root", spec)
	}
	return o, nil
}

// defaultOwner is serviceUser when running as root and the user exists.
func defaultOwner(euid int, serviceUser string) (*Owner, error) {
	if euid != 0 {
		return nil, nil
	}
	_, err := user.Lookup(serviceUser)
	if errors.As(err, new(user.UnknownUserError)) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up the service user %s: %w; name the owner with --owner USER[:GROUP]", serviceUser, err)
	}
	return parseOwner(serviceUser)
}

// parseOwner looks up USER[:GROUP].
func parseOwner(spec string) (*Owner, error) {
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" || hasGroup && groupPart == "" {
		return nil, fmt.Errorf("--owner %q: want USER or USER:GROUP, such as --owner %s", spec, ServiceUser)
	}
	uid, gid, userName, err := lookupUser(userPart)
	if err != nil {
		return nil, err
	}

	groupName := strconv.Itoa(gid)
	switch {
	case hasGroup:
		gid, groupName, err = lookupGroup(groupPart)
		if err != nil {
			return nil, err
		}
	case gid < 0:
		return nil, fmt.Errorf("--owner %s: uid %d has no entry in the user database, so no primary group; give one: --owner %s:GROUP", spec, uid, spec)
	default:
		if g, err := user.LookupGroupId(groupName); err == nil {
			groupName = g.Name
		}
	}
	return &Owner{UID: uid, GID: gid, Name: userName + ":" + groupName}, nil
}

// lookupUser returns the uid and primary gid of a user name or id. A
// numeric id without an entry is accepted as is, with gid -1.
func lookupUser(s string) (uid, gid int, name string, err error) {
	n, numeric := parseID(s)
	var u *user.User
	if numeric {
		u, err = user.LookupId(s)
	} else {
		u, err = user.Lookup(s)
	}

	switch {
	case err == nil:
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		return uid, gid, u.Username, nil
	case numeric:
		return n, -1, s, nil
	case errors.As(err, new(user.UnknownUserError)):
		return 0, 0, "", fmt.Errorf("--owner: no user %q on this system; create it (the edge-agent package does) or name another, such as --owner root", s)
	}
	return 0, 0, "", fmt.Errorf("--owner: look up user %q: %w", s, err)
}

// lookupGroup returns the gid and name of a group name or id. A numeric id
// without an entry is accepted as is.
func lookupGroup(s string) (int, string, error) {
	n, numeric := parseID(s)
	var g *user.Group
	var err error
	if numeric {
		g, err = user.LookupGroupId(s)
	} else {
		g, err = user.LookupGroup(s)
	}

	switch {
	case err == nil:
		gid, _ := strconv.Atoi(g.Gid)
		return gid, g.Name, nil
	case numeric:
		return n, s, nil
	case errors.As(err, new(user.UnknownGroupError)):
		return 0, "", fmt.Errorf("--owner: no group %q on this system; create it or name another", s)
	}
	return 0, "", fmt.Errorf("--owner: look up group %q: %w", s, err)
}

// parseID reports whether s is a numeric user or group id.
func parseID(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}
