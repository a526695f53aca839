package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"
)

// DeviceFleet is a SageMaker Edge Manager device fleet, kept in
// State.Extra["fleet"].
type DeviceFleet struct {
	Name         string
	ARN          string
	RoleARN      string
	OutputS3     string
	Description  string
	IotRoleAlias string // the role alias ARN, empty unless EnableIotRoleAlias
	Created      time.Time
}

// Device is a device registered with a SageMaker device fleet, kept in
// State.Extra["device"].
type Device struct {
	Name         string
	Fleet        string
	IotThingName string
	Description  string
	Registered   time.Time
}

// sagemakerNameRE is the pattern of SageMaker device and fleet names
// (EntityName in the API model).
var sagemakerNameRE = regexp.MustCompile(`^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`)

// smHandler serves one SageMaker call from its JSON body.
type smHandler func(body []byte) (any, *APIError)

func (c *ControlPlane) serveSageMaker(w http.ResponseWriter, r *http.Request, op string) {
	handlers := map[string]smHandler{
		"CreateDeviceFleet":   c.createDeviceFleet,
		"DescribeDeviceFleet": c.describeDeviceFleet,
		"DeleteDeviceFleet":   c.deleteDeviceFleet,
		"RegisterDevices":     c.registerDevices,
		"DeregisterDevices":   c.deregisterDevices,
		"DescribeDevice":      c.describeDevice,
		"ListDevices":         c.listDevices,
	}
	h, ok := handlers[op]
	if !ok {
		writeSageMakerError(w, smErr("UnknownOperationException", "operation %s is not in the sandbox", op))
		return
	}
	if e := c.admit("sagemaker:" + op); e != nil {
		writeSageMakerError(w, e)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeSageMakerError(w, smErr("ValidationException", "read body: %v", err))
		return
	}

	out, e := h(body)
	if e != nil {
		writeSageMakerError(w, e)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

// writeSageMakerError answers as AWS JSON 1.1 services do.
func writeSageMakerError(w http.ResponseWriter, e *APIError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.Code, "Message": e.Message})
}

func smErr(code, format string, args ...any) *APIError {
	return &APIError{Code: code, Status: statusOf("sagemaker", code), Message: fmt.Sprintf(format, args...)}
}

func smDecode(body []byte, v any) *APIError {
	if err := json.Unmarshal(body, v); err != nil {
		return smErr("ValidationException", "malformed body: %v", err)
	}
	return nil
}

func smCheckName(field, v string) *APIError {
	if !sagemakerNameRE.MatchString(v) {
		return smErr("ValidationException",
			"1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: "+
				"Member must satisfy regular expression pattern: %s", v, field, sagemakerNameRE)
	}
	return nil
}

func (c *ControlPlane) createDeviceFleet(body []byte) (any, *APIError) {
	var in struct {
		DeviceFleetName    string
		RoleArn            string
		Description        string
		EnableIotRoleAlias bool
		OutputConfig       struct{ S3OutputLocation string }
	}
	if e := smDecode(body, &in); e != nil {
		return nil, e
	}
	if e := smCheckName("deviceFleetName", in.DeviceFleetName); e != nil {
		return nil, e
	}
	if in.OutputConfig.S3OutputLocation == "" {
		return nil, smErr("ValidationException", "OutputConfig.S3OutputLocation is required")
	}

	var e *APIError
	c.state.Do(func(s *State) {
		fleets := cpExtra(s, KindFleet)
		if _, ok := fleets[in.DeviceFleetName]; ok {
			e = smErr("ResourceInUse", "Device fleet %s already exists", in.DeviceFleetName)
			return
		}
		f := &DeviceFleet{Name: in.DeviceFleetName, ARN: fleetARN(s, in.DeviceFleetName),
			RoleARN: in.RoleArn, OutputS3: in.OutputConfig.S3OutputLocation,
			Description: in.Description, Created: c.now()}
		if in.EnableIotRoleAlias {
			// Like AWS, the fleet brings its own role alias.
			ra, aerr := cpAddRoleAlias(s, "SageMakerEdge-"+f.Name, f.RoleARN, 3600)
			if aerr != nil {
				e = smErr("ResourceInUse", "%s", aerr.Message)
				return
			}
			f.IotRoleAlias = ra.ARN
		}
		fleets[f.Name] = f
	})
	return nil, e
}

func fleetARN(s *State, name string) string {
	return s.ARN("sagemaker", "device-fleet/"+name)
}

func (c *ControlPlane) describeDeviceFleet(body []byte) (any, *APIError) {
	var in struct{ DeviceFleetName string }
	if e := smDecode(body, &in); e != nil {
		return nil, e
	}
	var out any
	var e *APIError
	c.state.Do(func(s *State) {
		f, ok := cpExtra(s, KindFleet)[in.DeviceFleetName].(*DeviceFleet)
		if !ok {
			e = smErr("ResourceNotFound", "Device fleet %s does not exist", in.DeviceFleetName)
			return
		}
		m := map[string]any{
			"DeviceFleetName": f.Name, "DeviceFleetArn": f.ARN, "RoleArn": f.RoleARN,
			"OutputConfig": map[string]string{"S3OutputLocation": f.OutputS3},
			"CreationTime": cpEpoch(f.Created), "LastModifiedTime": cpEpoch(f.Created),
		}
		if f.Description != "" {
			m["Description"] = f.Description
		}
		if f.IotRoleAlias != "" {
			m["IotRoleAlias"] = f.IotRoleAlias
		}
		out = m
	})
	return out, e
}

func (c *ControlPlane) deleteDeviceFleet(body []byte) (any, *APIError) {
	var in struct{ DeviceFleetName string }
	if e := smDecode(body, &in); e != nil {
		return nil, e
	}
	var e *APIError
	c.state.Do(func(s *State) {
		if _, ok := cpExtra(s, KindFleet)[in.DeviceFleetName]; !ok {
			e = smErr("ResourceNotFound", "Device fleet %s does not exist", in.DeviceFleetName)
			return
		}
		for _, d := range cpExtra(s, KindDevice) {
			if d.(*Device).Fleet == in.DeviceFleetName {
				e = smErr("ResourceInUse", "Device fleet %s still has registered devices", in.DeviceFleetName)
				return
			}
		}
		delete(cpExtra(s, KindFleet), in.DeviceFleetName)
	})
	return nil, e
}

func (c *ControlPlane) registerDevices(body []byte) (any, *APIError) {
	var in struct {
		DeviceFleetName string
		Devices         []struct{ DeviceName, Description, IotThingName string }
	}
	if e := smDecode(body, &in); e != nil {
		return nil, e
	}
	for _, d := range in.Devices {
		if e := smCheckName("devices.member.deviceName", d.DeviceName); e != nil {
			return nil, e
		}
	}

	var e *APIError
	c.state.Do(func(s *State) {
		if _, ok := cpExtra(s, KindFleet)[in.DeviceFleetName]; !ok {
			e = smErr("ResourceNotFound", "Device fleet %s does not exist", in.DeviceFleetName)
			return
		}
		devices := cpExtra(s, KindDevice)
		for _, d := range in.Devices {
			if old, ok := devices[d.DeviceName].(*Device); ok && old.Fleet != in.DeviceFleetName {
				e = smErr("ValidationException", "Device %s is registered with fleet %s", d.DeviceName, old.Fleet)
				return
			}
		}
		for _, d := range in.Devices {
			devices[d.DeviceName] = &Device{Name: d.DeviceName, Fleet: in.DeviceFleetName,
				IotThingName: d.IotThingName, Description: d.Description, Registered: c.now()}
		}
	})
	return nil, e
}

func (c *ControlPlane) deregisterDevices(body []byte) (any, *APIError) {
	var in struct {
		DeviceFleetName string
		DeviceNames     []string
	}
	if e := smDecode(body, &in); e != nil {
		return nil, e
	}
	c.state.Do(func(s *State) {
		devices := cpExtra(s, KindDevice)
		for _, name := range in.DeviceNames {
			if d, ok := devices[name].(*Device); ok && d.Fleet == in.DeviceFleetName {
				delete(devices, name)
			}
		}
	})
	return nil, nil
}

func (c *ControlPlane) describeDevice(body []byte) (any, *APIError) {
	var in struct{ DeviceName, DeviceFleetName string }
	if e := smDecode(body, &in); e != nil {
		return nil, e
	}
	var out any
	var e *APIError
	c.state.Do(func(s *State) {
		d, ok := cpExtra(s, KindDevice)[in.DeviceName].(*Device)
		if !ok || d.Fleet != in.DeviceFleetName {
			e = smErr("ResourceNotFound", "Device %s is not registered with fleet %s", in.DeviceName, in.DeviceFleetName)
			return
		}
		out = deviceJSON(s, d)
	})
	return out, e
}

func deviceJSON(s *State, d *Device) map[string]any {
	m := map[string]any{
		"DeviceName": d.Name, "DeviceArn": s.ARN("sagemaker", "device-fleet/"+d.Fleet+"/device/"+d.Name),
		"DeviceFleetName": d.Fleet, "RegistrationTime": cpEpoch(d.Registered),
	}
	if d.IotThingName != "" {
		m["IotThingName"] = d.IotThingName
	}
	if d.Description != "" {
		m["Description"] = d.Description
	}
	return m
}

func (c *ControlPlane) listDevices(body []byte) (any, *APIError) {
	var in struct {
		DeviceFleetName string
		NextToken       string
		MaxResults      int
	}
	if e := smDecode(body, &in); e != nil {
		return nil, e
	}
	var list []map[string]any
	c.state.Do(func(s *State) {
		devices := cpExtra(s, KindDevice)
		for _, name := range cpSortedKeys(devices) {
			d := devices[name].(*Device)
			if in.DeviceFleetName == "" || d.Fleet == in.DeviceFleetName {
				list = append(list, deviceJSON(s, d))
			}
		}
	})
	size := ""
	if in.MaxResults > 0 {
		size = fmt.Sprint(in.MaxResults)
	}
	items, next := cpPage(list, in.NextToken, size)
	return map[string]any{"DeviceSummaries": items, "NextToken": cpNilIfEmpty(next)}, nil
}
